//! `lifetime`: what really destroys a pipe, and who else can reach it (note 000 (1):
//! *"进程结束后管道也会被销毁"* and *"保密性比较好"*).
//!
//! The notes say the pipe is destroyed when the process ends, and that it is private. Both are
//! about file descriptors, not processes:
//! - a pipe is a kernel object with a reference count: one per open file descriptor, in any
//!   process. The kernel frees it when the **last** fd is closed, whoever created it. A process
//!   that exits closes *its* fds, and that is all;
//! - an anonymous pipe has no name in any directory, but it is listed in `/proc/PID/fd` of every
//!   process holding it, as a symbolic link `pipe:[INODE]`, and **opening that link** gives the
//!   opener a new fd on the same pipe. The kernel allows it to a process that may inspect the
//!   holder (ptrace "read" access: the same user, or root); other users get EACCES. So a pipe is
//!   as private as its holder's processes are from that user, no more.
//!
//! The Python shape (Linux only, as the lesson is):
//!
//! ```python
//! import os, time
//! from multiprocessing import Process, Pipe
//!
//! def creator(ctl):
//!     r, w = os.pipe()                     # made here, after the fork: the parent never had it
//!     os.write(w, b"written by the creator")
//!     ctl.send((os.getpid(), r))           # only a number, not the pipe
//!     ctl.recv()                           # stay alive until the parent has opened it
//!
//! parent_ctl, child_ctl = Pipe()
//! p = Process(target=creator, args=(child_ctl,)); p.start()
//! pid, r = parent_ctl.recv()
//! print(os.readlink(f"/proc/{pid}/fd/{r}"))                # pipe:[123456]
//! mine = os.open(f"/proc/{pid}/fd/{r}", os.O_RDONLY)      # same user: allowed
//! parent_ctl.send("bye"); p.join()                         # the creator is gone...
//! print(os.read(mine, 100))                                # ...its pipe is not
//! print(os.read(mine, 100))                                # b'': no write end left anywhere
//! os.close(mine)                                           # the last fd: now it is freed
//! ```
//!
//! Here, step by step:
//! 1. a **creator** child makes a pipe(2) *after* it was forked (so the parent never inherited
//!    it), writes one message into it, and tells the parent over a control socketpair only that
//!    it is ready (and, for the cross-check, its fd numbers and the pipe's inode);
//! 2. the parent lists `/proc/CREATOR/fd`, as `ls -l` would: every `pipe:[...]` entry, its open
//!    mode (the link's permission bits: `r-x` for a read end, `-wx` for a write end), and which
//!    pipes the parent does not hold itself: that is the creator's new pipe (others, such as
//!    stdout when the output goes into a pipe, were inherited from the parent);
//! 3. the parent **opens `/proc/CREATOR/fd/N`** of the read end: a new fd of its own on that
//!    pipe (same inode, checked with fstat);
//! 4. the parent lets the creator exit and reaps it: the creator's two fds are closed, the
//!    process is gone;
//! 5. the pipe is not: `/proc/self/fd/M` still says `pipe:[INODE]`, and reading it returns the
//!    message the dead creator wrote, then EOF (its write end, the only one, is closed);
//! 6. the parent closes its fd, the last one: only now does the kernel free the pipe.
//!
//! Who closes what: the creator closes the parent's end of the control socketpair at once (so
//! that the parent's death means EOF for it); the parent closes the creator's end after the fork
//! (so that the creator's death means EOF for the parent, never a hang). The parent joins the
//! creator in step 4; on an error path dropping the `Child` kills and reaps it.

use std::cell::Cell;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use anyhow::{bail, ensure, Context, Result};
use common::{json, out};
use serde::{Deserialize, Serialize};

use crate::connection::{Connection, Dir};
use crate::{take_end, ConnError};

/// Flags of `lifetime` (none: the demo has one path).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {}

/// What the creator tells the parent once its pipe exists (numbers only: no fd crosses).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Report {
    /// The creator's fd of the read end.
    read_fd: i32,
    /// The creator's fd of the write end.
    write_fd: i32,
    /// The pipe's inode (fstat in the creator), the `INODE` of `pipe:[INODE]`.
    inode: u64,
}

/// One `pipe:[...]` entry of a `/proc/PID/fd` directory.
#[derive(Debug, Clone, Serialize)]
pub struct PipeEntry {
    /// The fd number.
    pub fd: i32,
    /// The link's text, `pipe:[INODE]`.
    pub link: String,
    /// The inode.
    pub inode: u64,
    /// "read" or "write": which end the fd is open for (the link's permission bits).
    pub end: &'static str,
}

/// The message the creator leaves in its pipe.
fn message(creator: i32) -> String {
    format!("written by the creator (pid {creator}) before it exited")
}

/// The inode in a `pipe:[INODE]` link text.
fn pipe_inode(link: &str) -> Option<u64> {
    link.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok()
}

/// Every `pipe:[...]` entry of `/proc/<pid>/fd`, sorted by fd.
fn pipes_of(pid: &str) -> Result<Vec<PipeEntry>> {
    let dir = format!("/proc/{pid}/fd");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("read_dir({dir})"))? {
        let entry = entry.with_context(|| format!("read_dir({dir})"))?;
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // An fd closed while we list (read_dir's own, for one) has no link any more: skip it.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let link = target.to_string_lossy().into_owned();
        let Some(inode) = pipe_inode(&link) else {
            continue;
        };
        // The link's own mode (lstat) is the fd's open mode: r-x for O_RDONLY, -wx for O_WRONLY.
        let mode = std::fs::symlink_metadata(entry.path())
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        let end = if mode & 0o200 != 0 { "write" } else { "read" };
        found.push(PipeEntry {
            fd,
            link,
            inode,
            end,
        });
    }
    found.sort_by_key(|e| e.fd);
    Ok(found)
}

/// fstat(2)'s inode of an fd.
fn inode_of(fd: impl AsFd) -> Result<u64> {
    Ok(nix::sys::stat::fstat(fd.as_fd().as_raw_fd())
        .context("fstat")?
        .st_ino)
}

/// The creator child: make a pipe, leave a message in it, report, wait to be let go.
fn creator(ctl: Connection) -> Result<()> {
    let (r, w) = crate::pipe(false).context("pipe2")?;
    let me = std::process::id() as i32;
    w.send_obj(&message(me))
        .context("write into the new pipe")?;
    let report = Report {
        read_fd: r.fileno(),
        write_fd: w.fileno(),
        inode: inode_of(&r)?,
    };
    out::event(
        "created",
        json!({"read_fd": report.read_fd, "write_fd": report.write_fd, "inode": report.inode}),
        format!(
            "  creator (pid {me}): made a pipe after the fork, fds {} (read) and {} (write), \
             pipe:[{}]; wrote one message into it",
            report.read_fd, report.write_fd, report.inode
        ),
    );
    ctl.send_obj(&report).context("report to the parent")?;
    // Stay alive, holding both ends, until the parent says it has opened its own fd.
    match ctl.recv() {
        Ok(_) | Err(ConnError::Eof) => {}
        Err(e) => return Err(e).context("wait for the parent"),
    }
    out::say(format!(
        "  creator (pid {me}): exiting; exit closes my fds {} and {}",
        report.read_fd, report.write_fd
    ));
    // Returning exits the child (_exit), which closes r, w and ctl: the kernel drops this
    // process's references to the pipe, nothing more.
    Ok(())
}

/// Run the demo.
pub fn run(_args: &Args) -> Result<()> {
    let me = std::process::id();
    // The control line to the creator: a socketpair, made before the fork. The pipe under study
    // is made later, inside the creator, so the parent cannot have inherited it.
    let (parent_ctl, child_ctl) = crate::pipe(true).context("socketpair for the control line")?;
    let parent_ctl = Cell::new(Some(parent_ctl));
    let child_ctl = Cell::new(Some(child_ctl));
    let mut child = common::spawn("creator", || {
        drop(take_end(&parent_ctl, "parent_ctl")?);
        creator(take_end(&child_ctl, "child_ctl")?)
    })?;
    drop(take_end(&child_ctl, "child_ctl")?);
    let ctl = take_end(&parent_ctl, "parent_ctl")?;
    let pid = child.pid();

    let report: Report = match ctl.recv_obj() {
        Ok(r) => r,
        Err(ConnError::Eof) => {
            child.join()?;
            bail!(
                "the creator ended before reporting: {}",
                child.failure().unwrap_or_else(|| "it exited 0".into())
            );
        }
        Err(e) => return Err(e).context("recv the creator's report"),
    };

    // Step 2: what anyone of the same user can see.
    let theirs = pipes_of(&pid.to_string())?;
    let ours: Vec<u64> = pipes_of("self")?.iter().map(|e| e.inode).collect();
    out::say(format!(
        "parent (pid {me}), never given that pipe: ls -l /proc/{pid}/fd shows these pipes:"
    ));
    for e in &theirs {
        let whose = if ours.contains(&e.inode) {
            "inherited: the parent has it too"
        } else {
            "NEW: made by the creator after the fork"
        };
        out::event(
            "proc_fd",
            json!({"creator_pid": pid, "fd": e.fd, "link": e.link, "inode": e.inode, "end": e.end, "new": !ours.contains(&e.inode)}),
            format!(
                "  /proc/{pid}/fd/{} -> {}  ({} end; {whose})",
                e.fd, e.link, e.end
            ),
        );
    }
    let new: Vec<&PipeEntry> = theirs.iter().filter(|e| !ours.contains(&e.inode)).collect();
    let read_end = new
        .iter()
        .find(|e| e.end == "read")
        .context("no new pipe read end in the creator's /proc/PID/fd")?;
    ensure!(
        read_end.inode == report.inode && read_end.fd == report.read_fd,
        "/proc shows pipe:[{}] at fd {}, the creator reported pipe:[{}] at fd {}",
        read_end.inode,
        read_end.fd,
        report.inode,
        report.read_fd
    );
    let found_write = new
        .iter()
        .any(|e| e.end == "write" && e.inode == report.inode && e.fd == report.write_fd);

    // Step 3: open the link. The kernel checks ptrace read access to the creator (same uid
    // here), then opens the very pipe the link names, as it would a FIFO.
    let path = format!("/proc/{pid}/fd/{}", read_end.fd);
    let creator_uid = std::fs::metadata(format!("/proc/{pid}"))
        .with_context(|| format!("stat /proc/{pid}"))?
        .uid();
    let my_uid = std::fs::metadata("/proc/self")
        .context("stat /proc/self")?
        .uid();
    let file = std::fs::File::open(&path).with_context(|| format!("open({path})"))?;
    let mine = Connection::new(OwnedFd::from(file), Dir::Read);
    let same_inode = inode_of(&mine)? == report.inode;
    out::event(
        "opened",
        json!({"path": path, "our_fd": mine.fileno(), "same_inode": same_inode, "creator_uid": creator_uid, "our_uid": my_uid}),
        format!(
            "parent: open(\"{path}\") -> our fd {}, fstat inode {}: {} pipe. Allowed because we \
             may inspect the creator (uid {my_uid}, the creator's uid {creator_uid}; the same \
             user, or root); another user would get EACCES. No name, but not secret.",
            mine.fileno(),
            report.inode,
            if same_inode {
                "the same"
            } else {
                "NOT the same"
            }
        ),
    );

    // Step 4: the creator may go; reap it.
    ctl.send(b"bye").context("let the creator go")?;
    drop(ctl);
    let status = child.join()?;
    if let Some(f) = child.failure() {
        bail!("the creator failed: {f}");
    }
    out::event(
        "creator_reaped",
        json!({"creator_pid": pid, "exit_code": status.python_exitcode()}),
        format!("parent: joined the creator (pid {pid}): {status}; /proc/{pid} is gone, and so are its fds"),
    );

    // Step 5: the pipe outlived its creator.
    let link_now = std::fs::read_link(format!("/proc/self/fd/{}", mine.fileno()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let alive = pipe_inode(&link_now) == Some(report.inode);
    out::event(
        "still_there",
        json!({"our_fd": mine.fileno(), "link": link_now, "alive": alive}),
        format!(
            "parent: /proc/self/fd/{} -> {link_now}: the pipe outlived the process that made it",
            mine.fileno()
        ),
    );
    let got: String = mine
        .recv_obj()
        .context("read the creator's message after it exited")?;
    out::event(
        "read",
        json!({"message": got}),
        format!("parent: read from it: {got:?}"),
    );
    let eof = matches!(mine.recv(), Err(ConnError::Eof));
    out::event(
        "eof",
        json!({"eof": eof}),
        if eof {
            "parent: read again: EOF, the only write end (the creator's) was closed by its exit"
        } else {
            "parent: read again: NOT EOF, although the only write end should be closed"
        },
    );

    // Step 6: the last fd.
    let our_fd = mine.fileno();
    mine.close();
    let gone = !pipes_of("self")?.iter().any(|e| e.inode == report.inode);
    out::event(
        "last_close",
        json!({"our_fd": our_fd, "gone": gone}),
        format!(
            "parent: close({our_fd}), the last fd on pipe:[{}] in any process: now, and only now, \
             the kernel frees the pipe. What destroys it is the last close, not the end of a process.",
            report.inode
        ),
    );

    let expected = message(pid);
    out::summary(json!({
        "creator_pid": pid,
        "inode": report.inode,
        "creator_pipes": theirs,
        "found_write_end": found_write,
        "opened_via": path,
        "same_inode": same_inode,
        "same_uid": creator_uid == my_uid,
        "alive_after_creator": alive,
        "read_after_creator_exit": got,
        "eof_after": eof,
        "gone_after_last_close": gone,
    }));
    ensure!(same_inode, "the fd opened through /proc is another pipe");
    ensure!(
        alive,
        "the pipe vanished with its creator while we held an fd"
    );
    ensure!(
        got == expected,
        "read {got:?}, the creator wrote {expected:?}"
    );
    ensure!(eof, "no EOF although no write end is left");
    ensure!(gone, "our fd on the pipe is still listed after close");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_links_are_parsed_and_our_own_pipe_is_listed_with_its_ends() {
        assert_eq!(pipe_inode("pipe:[123]"), Some(123));
        assert_eq!(pipe_inode("socket:[123]"), None);
        assert_eq!(pipe_inode("/dev/null"), None);
        let (r, w) = crate::pipe(false).unwrap();
        let inode = inode_of(&r).unwrap();
        let ours = pipes_of("self").unwrap();
        let mine: Vec<&PipeEntry> = ours.iter().filter(|e| e.inode == inode).collect();
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().any(|e| e.fd == r.fileno() && e.end == "read"));
        assert!(mine.iter().any(|e| e.fd == w.fileno() && e.end == "write"));
        drop((r, w));
        assert!(!pipes_of("self").unwrap().iter().any(|e| e.inode == inode));
    }
}
