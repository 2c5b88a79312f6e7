//! pipe_full: drain the pipe before you join the writer.
//! 先把管道读空，再 join 写进程；否则写进程卡在满的管道上，join 永远等不到。
//!
//! The child writes 1 MiB into a pipe. A pipe holds 64 KiB by default: once it is full, the
//! child's write(2) blocks until someone reads. If the parent joins the child first, the parent
//! waits for the child and the child waits for the parent: a deadlock.

use std::fs::File;
use std::io::{Read, Write};

const SIZE: usize = 1 << 20;

fn main() -> anyhow::Result<()> {
    let (reader, writer) = nix::unistd::pipe()?;
    // `writer` is moved into the closure: in the parent it is dropped (closed) right after
    // the fork, in the child it is the only write end.
    let mut child = common::spawn("writer", move || {
        let mut out = File::from(writer);
        out.write_all(&vec![b'x'; SIZE])?;
        Ok(())
    })?;
    // Read to EOF first: that empties the pipe as the child fills it, and EOF arrives when
    // the child has written everything and exited.
    let mut data = Vec::new();
    File::from(reader).read_to_end(&mut data)?;
    // Only now wait for (and reap) the child: it has finished writing.
    let status = child.join()?;
    println!("received {} bytes", data.len());
    println!("writer exited: {}", status.success());
    Ok(())
}
