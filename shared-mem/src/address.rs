//! `address`: the name identifies a shared-memory segment, not its address (the notes: "开辟了
//! 共享内存之后会自动记录共享内存首地址 (首地址就是每段内存的ID)").
//!
//! The notes say the segment's start address is its ID. An address is only where *one process*
//! placed its view of the segment: each process that maps it gets an address of its own, and one
//! process mapping it twice gets two. What names the segment is its **name** (POSIX `shm_open`),
//! its key (System V `shmget`, whose ID `shmat` then turns into an address, one per attach), or a
//! descriptor passed along or inherited through fork.
//!
//! The Python shape (on Linux `shm_open(name)` opens the file `/dev/shm/name`, so plain `os.open`
//! and `mmap` do what `multiprocessing.shared_memory` does, without its resource-tracker process):
//!
//! ```python
//! import ctypes, mmap, os
//!
//! NAME = f"/dev/shm/shared-mem-address-{os.getpid()}"   # what shm_open(name) opens on Linux
//! r, w = os.pipe()
//!
//! def open_view(flags):
//!     fd = os.open(NAME, flags, 0o600)
//!     os.ftruncate(fd, 8)                     # the size (B finds it 8 already)
//!     m = mmap.mmap(fd, 8)                    # MAP_SHARED
//!     os.close(fd)                            # the mapping keeps the segment
//!     return m, ctypes.c_int64.from_buffer(m)
//!
//! pid = os.fork()                             # B first: it inherits nothing of the segment
//! if pid == 0:
//!     os.read(r, 1)                           # wait until A has created it
//!     own = mmap.mmap(-1, 4096)               # a page of its own: a history unlike A's
//!     m, v = open_view(os.O_RDWR)             # B finds it by name only
//!     print("B maps it at", hex(ctypes.addressof(v)), "and reads", v.value, flush=True)
//!     v.value = os.getpid()
//!     os._exit(0)
//! m, v = open_view(os.O_RDWR | os.O_CREAT | os.O_EXCL)
//! v.value = os.getpid()
//! print("A maps it at", hex(ctypes.addressof(v)), flush=True)
//! os.write(w, b"c")
//! os.waitpid(pid, 0)
//! print("A reads B's write:", v.value)
//! os.unlink(NAME)                             # shm_unlink: the name goes, nothing is left
//! ```
//!
//! Here, with the same calls:
//! 1. the parent, **A**, forks **B** first, so B inherits neither the segment nor a mapping of it:
//!    B will reach it by name only;
//! 2. A creates the name (`shm_open` with `O_CREAT | O_EXCL`, mode 0600: a new object, only our
//!    user), sizes it (`ftruncate`, zero-filled), maps it (`mmap MAP_SHARED`, through
//!    [`common::sys::ipc::SharedFd`]) and writes its pid into it;
//! 3. B opens the same name and tells A so; A **unlinks the name** at once: every process that
//!    will use the segment has opened it, so the name has done its job and nothing is left in
//!    `/dev/shm`. The segment itself lives until its last mapping and descriptor are gone;
//! 4. B maps the segment **twice** (two views in one process: necessarily two addresses), reads
//!    A's value through both, writes its own pid through the second view and sees it through the
//!    first; A reads B's value through its own view.
//!
//! Every process prints the addresses it got. A and B were forked from one parent, so their
//! address spaces start out laid out alike; B maps a private page of its own first, as any
//! program with a history has, and its views land elsewhere. (Without it, A's address could equal B's
//! first one: the same number in two processes, which identifies nothing either.) B's two views
//! can never share an address. One segment, several addresses: the address is not its ID.
//!
//! Leaving nothing behind: the stop signals (SIGINT, SIGTERM) are blocked in A from `shm_open`
//! until the unlink, and A unlinks on every path (if B dies before opening, A sees EOF on the
//! control socket and unlinks alone). Only a SIGKILL of A inside that window, a few system calls
//! wide, could leave the name; nothing can catch a SIGKILL, so neither process prints anything
//! before the unlink (B waits for A's word that the name is gone): whoever kills the demo on
//! seeing its first line never lands inside the window. The control line is a socketpair: either
//! side's death means EOF for the other, never a hang.

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{bail, ensure, Context, Result};
use common::sys::ipc::SharedFd;
use common::{json, out};
use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::Mode;

/// Flags of `address` (none: the demo has one path).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {}

common::shared_struct! {
    /// The segment both processes reach by name.
    pub struct Segment {
        /// What A wrote: its pid.
        pub from_a: AtomicI64,
        /// What B wrote: its pid.
        pub from_b: AtomicI64,
    }
}

/// What B tells A over the control socket once it is done (numbers only).
#[derive(Debug, Clone, Copy)]
struct BReport {
    /// Where B's first view is.
    view1: u64,
    /// Where B's second view is.
    view2: u64,
    /// A's value as read through view 1.
    read1: i64,
    /// The same through view 2.
    read2: i64,
}

impl BReport {
    fn to_bytes(self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&self.view1.to_le_bytes());
        b[8..16].copy_from_slice(&self.view2.to_le_bytes());
        b[16..24].copy_from_slice(&self.read1.to_le_bytes());
        b[24..32].copy_from_slice(&self.read2.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8; 32]) -> BReport {
        let word = |k: usize| <[u8; 8]>::try_from(&b[k..k + 8]).expect("8 bytes");
        BReport {
            view1: u64::from_le_bytes(word(0)),
            view2: u64::from_le_bytes(word(8)),
            read1: i64::from_le_bytes(word(16)),
            read2: i64::from_le_bytes(word(24)),
        }
    }
}

/// Where this process's view of the segment starts: the address of the mapped `Segment`.
fn address_of(view: &SharedFd<Segment>) -> u64 {
    std::ptr::from_ref::<Segment>(view) as usize as u64
}

/// Map one view of the segment open as `fd`.
fn map(fd: &std::fs::File) -> Result<SharedFd<Segment>> {
    SharedFd::<Segment>::map(fd.as_fd()).context("mmap(MAP_SHARED) of the segment")
}

/// Read exactly `buf.len()` bytes from the control socket; `Ok(false)` on EOF (the peer is gone).
fn read_msg(sock: &mut UnixStream, buf: &mut [u8]) -> Result<bool> {
    match sock.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e).context("read the control socket"),
    }
}

/// B: open by name, map twice, read A's value, write its own.
fn b_side(mut ctl: UnixStream, name: &str) -> Result<()> {
    let me = std::process::id();
    let mut byte = [0u8; 1];
    if !read_msg(&mut ctl, &mut byte)? {
        bail!("A closed the control socket before creating the segment");
    }
    let fd = shm_open(name, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .with_context(|| format!("shm_open({name})"))?;
    let file = std::fs::File::from(fd);
    // Opened: A may unlink the name now. Then wait until it has: nothing is printed while the
    // name exists (see the module doc, "Leaving nothing behind").
    ctl.write_all(b"o").context("tell A we opened it")?;
    if !read_msg(&mut ctl, &mut byte)? {
        bail!("A closed the control socket before unlinking the name");
    }
    out::event(
        "b_opened",
        json!({"name": name}),
        format!("  B (pid {me}, forked before the segment existed: it inherited nothing): its shm_open(\"{name}\"), before the unlink, found the same segment"),
    );

    // A real B would have a memory history of its own by now. Ours was forked from the same
    // parent as A, so its address space is laid out exactly like A's, and its first mapping
    // would land on the very number A got (the kernel picks the same free gap). One private page
    // of its own, mapped first, is enough history to move it. Kept until B exits.
    let own = memmap2::MmapMut::map_anon(4096).context("mmap a private page")?;
    let view1 = map(&file)?;
    let view2 = map(&file)?;
    let (a1, a2) = (address_of(&view1), address_of(&view2));
    let read1 = view1.from_a.load(Ordering::SeqCst);
    let read2 = view2.from_a.load(Ordering::SeqCst);
    out::event(
        "b_mapped",
        json!({"addresses": [a1, a2], "read": [read1, read2]}),
        format!(
            "  B: mmap -> {a1:#x}; mmap again -> {a2:#x} (two views, one process); \
             A's value through view 1: {read1}, through view 2: {read2}"
        ),
    );
    view2.from_b.store(i64::from(me), Ordering::SeqCst);
    let seen = view1.from_b.load(Ordering::SeqCst);
    out::event(
        "b_wrote",
        json!({"wrote": me, "view1_sees": seen}),
        format!("  B: wrote {me} (its pid) through view 2; view 1 sees {seen} at once: one segment behind both"),
    );
    let report = BReport {
        view1: a1,
        view2: a2,
        read1,
        read2,
    };
    ctl.write_all(&report.to_bytes()).context("report to A")?;
    drop(own);
    Ok(())
}

/// Whether `/dev/shm` still has an entry for the name.
fn name_left(name: &str) -> bool {
    std::path::Path::new("/dev/shm")
        .join(name.trim_start_matches('/'))
        .exists()
}

/// Run the demo (the parent is A).
pub fn run(_args: &Args) -> Result<()> {
    let me = std::process::id();
    // The pid in the name: two runs at once never meet, and a leftover names its run.
    let name = format!("/shared-mem-address-{me}");
    let (a_sock, b_sock) = UnixStream::pair().context("socketpair for the control line")?;
    let a_sock = Cell::new(Some(a_sock));
    let b_sock = Cell::new(Some(b_sock));
    let child_name = name.clone();
    // B first: it must not inherit the segment, only learn its name.
    let mut b = common::spawn("B", || {
        drop(a_sock.take());
        let ctl = b_sock.take().context("B's control end")?;
        b_side(ctl, &child_name)
    })?;
    drop(b_sock.take());
    let mut ctl = a_sock.take().context("A's control end")?;
    // Create, wait for B to open, unlink: with the stop signals blocked, so that no Ctrl-C lands
    // between shm_open and shm_unlink and leaves the name in /dev/shm.
    common::sys::block_stop_signals(true);
    // Nothing is printed inside: a test that signals the demo after its first line never lands
    // in this window.
    let opened = (|| -> Result<(std::fs::File, SharedFd<Segment>, u64, bool)> {
        let fd = shm_open(
            name.as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .with_context(|| format!("shm_open({name}, O_CREAT | O_EXCL)"));
        let result = fd.and_then(|fd| {
            let file = std::fs::File::from(fd);
            // ftruncate: the size of the segment, zero-filled (a valid `Segment`).
            file.set_len(std::mem::size_of::<Segment>() as u64)
                .context("ftruncate")?;
            let view = map(&file)?;
            let a_address = address_of(&view);
            // Written before B is told the segment exists, so B finds it there.
            view.from_a.store(i64::from(me), Ordering::SeqCst);
            let listed = name_left(&name);
            ctl.write_all(b"c").context("tell B the segment exists")?;
            let mut byte = [0u8; 1];
            if !read_msg(&mut ctl, &mut byte)? {
                bail!("B ended before opening the segment");
            }
            Ok((file, view, a_address, listed))
        });
        // Unlink whatever happened: the name must not survive this block.
        let unlinked = shm_unlink(name.as_str()).with_context(|| format!("shm_unlink({name})"));
        let opened = result?;
        unlinked?;
        Ok(opened)
    })();
    common::sys::block_stop_signals(false);
    let (file, view, a_address, listed) = match opened {
        Ok(x) => x,
        Err(e) => {
            b.join()?;
            match b.failure() {
                Some(f) => bail!("{e:#}; B {f}"),
                None => return Err(e),
            }
        }
    };
    let gone = !name_left(&name);
    out::say(format!(
        "A is this process (pid {me}); B (pid {}) was forked before the segment existed",
        b.pid()
    ));
    out::event(
        "a_created",
        json!({"name": name, "address": a_address, "listed_in_dev_shm": listed, "wrote": me}),
        format!(
            "A: shm_open(\"{name}\", O_CREAT | O_EXCL, 0600), ftruncate({}), mmap -> \
             {a_address:#x}; wrote {me} (its pid). Listed as /dev/shm{name}: {listed}",
            std::mem::size_of::<Segment>()
        ),
    );
    out::event(
        "unlinked",
        json!({"name": name, "gone": gone}),
        format!(
            "A: B opened it too, so shm_unlink(\"{name}\"): /dev/shm{name} gone: {gone}. The segment \
             lives on: both processes still have it open."
        ),
    );
    // Now B may go on (and print).
    ctl.write_all(b"u").context("tell B the name is gone")?;

    // Wait for B's report (EOF: B died, and says how when joined).
    let mut bytes = [0u8; 32];
    if !read_msg(&mut ctl, &mut bytes)? {
        b.join()?;
        bail!(
            "B ended without reporting: {}",
            b.failure().unwrap_or_else(|| "it exited 0".into())
        );
    }
    let report = BReport::from_bytes(&bytes);
    let a_read = view.from_b.load(Ordering::SeqCst);
    b.join()?;
    if let Some(f) = b.failure() {
        bail!("B {f}");
    }
    out::event(
        "a_read",
        json!({"read": a_read}),
        format!("A: reads {a_read} (B's pid) through its own view at {a_address:#x}"),
    );

    let mut addresses = vec![a_address, report.view1, report.view2];
    addresses.sort_unstable();
    addresses.dedup();
    let distinct = addresses.len();
    let a_equals_b = a_address == report.view1 || a_address == report.view2;
    out::event(
        "addresses",
        json!({"a": a_address, "b": [report.view1, report.view2], "distinct": distinct}),
        format!(
            "one segment, {distinct} different addresses: A {a_address:#x}, B {:#x} and {:#x}{}. \
             The name found the segment; an address is only where one process put its view of it.",
            report.view1,
            report.view2,
            if a_equals_b {
                " (A's equals one of B's: both were forked from one parent and are laid out alike; \
                 B's two views still differ)"
            } else {
                ""
            }
        ),
    );
    drop(view);
    drop(file);
    let left = name_left(&name);
    out::summary(json!({
        "name": name,
        "a_pid": me,
        "b_pid": b.pid(),
        "a_address": a_address,
        "b_addresses": [report.view1, report.view2],
        "distinct_addresses": distinct,
        "a_wrote": me,
        "b_read": [report.read1, report.read2],
        "b_wrote": b.pid(),
        "a_read": a_read,
        "a_shares_an_address_with_b": a_equals_b,
        "unlinked_after_both_opened": gone,
        "name_left": left,
    }));
    ensure!(
        report.view1 != report.view2,
        "B's two views share an address"
    );
    ensure!(
        report.read1 == i64::from(me) && report.read2 == i64::from(me),
        "B read {} and {}, A wrote {me}",
        report.read1,
        report.read2
    );
    ensure!(
        a_read == i64::from(b.pid()),
        "A read {a_read}, B wrote {}",
        b.pid()
    );
    ensure!(!left, "{name} is still in /dev/shm");
    Ok(())
}
