//! pipe_eof: EOF comes only when EVERY write end is closed.
//! 管道读端只有在所有写端都关闭后才会读到 EOF。
//!
//! Three children greet the parent through one pipe; the parent reads until EOF. The kernel
//! reports EOF on the read end only when no process holds a write end any more, and the parent
//! holds one too: fork copies every descriptor. Run it: it never ends. Find the write end that
//! is still open.

use std::fs::File;
use std::io::{BufRead, Read, Write};

fn checkpoint() {
    println!("== checkpoint ==");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

fn main() -> anyhow::Result<()> {
    // pipe(2): two descriptors, a read end and a write end.
    let (reader, writer) = nix::unistd::pipe()?;
    let mut children = Vec::new();
    for name in ["Tom", "Jerry", "Spike"] {
        let child_writer = writer.try_clone()?;
        children.push(common::spawn(name, move || {
            // The child's copy of the write end, closed when the child exits.
            let mut out = File::from(child_writer);
            // The whole line in one write(2), so greetings from the children never mix.
            out.write_all(format!("hello! {name}\n").as_bytes())?;
            Ok(())
        })?);
    }
    // The parent only reads: close its own write end, or the read below never sees EOF
    // (the parent itself would be a writer that might still write).
    drop(writer);

    let mut text = String::new();
    // read(2) until it returns 0 (EOF): every write end is closed.
    File::from(reader).read_to_string(&mut text)?;
    for child in &mut children {
        child.join()?;
    }
    drop(children);
    print!("{text}");
    println!("parent: EOF, every writer is gone");
    checkpoint();
    Ok(())
}
