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
    fn reads_itself() {
        let me = std::process::id() as i32;
        let s = stat(me).unwrap().unwrap();
        assert!(matches!(s.state, 'R' | 'S'));
        assert!(s.threads >= 1);
        let (v, i) = context_switches(me).unwrap();
        let _ = (v, i);
    }
}
