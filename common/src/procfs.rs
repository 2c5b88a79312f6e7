//! Reading `/proc`: what the kernel says about a process (its state letter, parent, process
//! group, threads, context switches). The demos show these facts rather than assert them.

use anyhow::{Context, Result};

/// Fields of `/proc/<pid>/stat` the demos use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// `R` running, `S` sleeping, `D` disk wait, `Z` zombie (exited, not yet reaped), `T` stopped.
    pub state: char,
    /// Parent pid.
    pub ppid: i32,
    /// Process group.
    pub pgrp: i32,
    /// Number of threads.
    pub threads: i64,
    /// The command name.
    pub comm: String,
}

/// Read `/proc/<pid>/stat`. `Ok(None)` if there is no such process (any more).
pub fn stat(pid: i32) -> Result<Option<Stat>> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(e).context(format!("read /proc/{pid}/stat")),
    };
    parse_stat(&text).map(Some)
}

/// Parse a stat line. The command name sits in parentheses and may itself contain spaces or
/// parentheses, so split at the *last* `)`.
pub fn parse_stat(text: &str) -> Result<Stat> {
    let open = text.find('(').context("stat: no '('")?;
    let close = text.rfind(')').context("stat: no ')'")?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).copied().context("stat: short line");
    Ok(Stat {
        state: field(3)?.chars().next().context("stat: empty state")?,
        ppid: field(4)?.parse().context("stat: ppid")?,
        pgrp: field(5)?.parse().context("stat: pgrp")?,
        threads: field(20)?.parse().context("stat: num_threads")?,
        comm,
    })
}

/// Threads of *this* process, other than the calling one, that are not on their way out.
///
/// `/proc/<pid>/stat`'s thread count lags: a thread that `join` has already returned for can
/// still be listed for a moment while the kernel finishes its exit. Such a thread holds no lock
/// any more (it has returned from all its code); the kernel marks it `PF_EXITING` (0x4 in field 9,
/// the flags, of `/proc/self/task/<tid>/stat`) before `join` can return. So count only threads
/// without that flag: those could hold a lock at the instant of a fork.
pub fn other_live_threads() -> Result<usize> {
    let me = nix::unistd::gettid().as_raw();
    let mut live = 0;
    for e in std::fs::read_dir("/proc/self/task").context("read_dir /proc/self/task")? {
        let Ok(e) = e else { continue };
        let Ok(tid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if tid != me && thread_is_live(tid) {
            live += 1;
        }
    }
    Ok(live)
}

/// Whether thread `tid` of this process exists and is not exiting (see
/// [`other_live_threads`]).
pub fn thread_is_live(tid: i32) -> bool {
    const PF_EXITING: u64 = 0x4;
    let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false; // gone already
    };
    let Some(close) = text.rfind(')') else {
        return false;
    };
    let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let state = f.first().and_then(|s| s.chars().next()).unwrap_or('?');
    let flags: u64 = f.get(9 - 3).and_then(|v| v.parse().ok()).unwrap_or(0);
    flags & PF_EXITING == 0 && state != 'Z' && state != 'X'
}

/// Number of threads of process `pid`.
pub fn thread_count(pid: i32) -> Result<i64> {
    Ok(stat(pid)?.map_or(0, |s| s.threads))
}

/// Voluntary and involuntary context switches of `pid`, from `/proc/<pid>/status`.
/// Voluntary: the process blocked (IO, sleep, a lock). Involuntary: the scheduler took the CPU
/// away because its time slice ran out.
pub fn context_switches(pid: i32) -> Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let get = |key: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().parse::<u64>())
            .transpose()?
            .with_context(|| format!("/proc/{pid}/status: no {key}"))
    };
    Ok((
        get("voluntary_ctxt_switches:")?,
        get("nonvoluntary_ctxt_switches:")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_comm_with_spaces_and_parens() {
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 3 0 0 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "a b) c");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 42);
        assert_eq!(s.threads, 3);
    }

    #[test]
    fn joined_threads_do_not_count_as_live() {
        // Right after join the kernel may still list the thread; it must never count as live.
        for _ in 0..2000 {
            let h = std::thread::spawn(|| nix::unistd::gettid().as_raw());
            let tid = h.join().unwrap();
            assert!(!thread_is_live(tid), "joined thread {tid} counted as live");
        }
        // A thread that is running (blocked on a channel) does count.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            tid_tx.send(nix::unistd::gettid().as_raw()).unwrap();
            rx.recv()
        });
        assert!(thread_is_live(tid_rx.recv().unwrap()));
        drop(tx);
        let _ = h.join();
    }

    #[test]
    fn reads_itself() {
        let me = std::process::id() as i32;
        let s = stat(me).unwrap().unwrap();
        assert!(matches!(s.state, 'R' | 'S'));
        assert!(s.threads >= 1);
        let (v, i) = context_switches(me).unwrap();
        let _ = (v, i);
    }
}
