//! `greet` (the notes' example of **(1) 管道通信**, note 000).
//!
//! Python:
//!
//! ```python
//! import time
//! from multiprocessing import Process, Pipe
//!
//! fd1, fd2 = Pipe()                  # duplex=True by default
//!
//! def fun(name):
//!     time.sleep(0.3)                # the notes sleep 3 s
//!     fd1.send("hello! " + name.title())
//!
//! jobs = [Process(target=fun, args=(n,)) for n in ["tom", "zack", "abby", "sam"]]
//! for p in jobs: p.start()
//! for _ in range(4): print(fd2.recv())
//! for p in jobs: p.join()
//! ```
//!
//! Here: one duplex [`pipe`](crate::pipe) (a socketpair) made before any fork. Every child
//! inherits both ends; it closes `fd2` (the parent's end: a child never reads from it) and sends
//! its one message on `fd1`, the end all the children share. Each message is a frame of a few
//! dozen bytes (a 4-byte length, then the JSON of the greeting: [`crate::frame`]) sent with one
//! write(2), so the four writers never mix their bytes (see `atomic` for where that stops being
//! true).
//!
//! The parent closes *its* copy of `fd1` as soon as the last child is forked. Then, once every
//! child has exited, nothing holds `fd1` any more, and `recv` on `fd2` returns EOF: a child that
//! died without sending turns into a short count and exit status 1, never into a hang. After the
//! last greeting and the joins, the parent reads once more and expects exactly that EOF: proof
//! that no greeting came twice.

use std::cell::Cell;

use anyhow::{bail, Context, Result};
use common::{json, out, secs, sleep};

use crate::{take_end, ConnError, MAX_CHILDREN};

/// Longest name accepted (in characters).
pub const MAX_NAME: usize = 32;

/// Flags of `greet`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Children's names, comma-separated: 1..=64 names, each 1..=32 letters, digits, '-' or '_'.
    #[arg(long, value_name = "A,B,...", default_value = "tom,zack,abby,sam",
          value_parser = parse_names)]
    pub names: Names,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            names: parse_names("tom,zack,abby,sam").expect("the notes' names are valid"),
        }
    }
}

/// A validated list of child names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

/// Parse `--names`: comma-separated, 1..=64 names, none empty, each 1..=32 characters from
/// letters, digits, `-` and `_` (a name becomes a process name and a line of output).
pub fn parse_names(text: &str) -> Result<Names, String> {
    if text.trim().is_empty() {
        return Err("no names: give 1 to 64 comma-separated names".into());
    }
    let names: Vec<String> = text.split(',').map(|n| n.trim().to_string()).collect();
    if names.len() > MAX_CHILDREN {
        return Err(format!("{} names: at most {MAX_CHILDREN}", names.len()));
    }
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(format!("name {} is empty", i + 1));
        }
        if n.chars().count() > MAX_NAME {
            return Err(format!(
                "name {} is longer than {MAX_NAME} characters",
                i + 1
            ));
        }
        if let Some(c) = n
            .chars()
            .find(|c| !(c.is_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "name {} contains {c:?}: use letters, digits, '-' or '_'",
                i + 1
            ));
        }
    }
    // Two children with one name would send the same greeting ("tom,Tom" too: both say
    // "hello! Tom"), and the demo could no longer show that each child's message arrived
    // exactly once. Python would allow it; here it is a usage error.
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = names[..i]
            .iter()
            .position(|m| m.to_lowercase() == n.to_lowercase())
        {
            return Err(format!(
                "name {} ({n}) repeats name {} ({}): each child's greeting must be told apart",
                i + 1,
                j + 1,
                names[j]
            ));
        }
    }
    Ok(Names(names))
}

/// Python's `str.title()`: upper-case a letter that follows a non-letter, lower-case the others.
/// `tom` -> `Tom`, `mary-ann` -> `Mary-Ann`, `abby2x` -> `Abby2X`.
pub fn title(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut after_letter = false;
    for c in name.chars() {
        // Python looks at "cased" characters (those with an upper and a lower form).
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased {
            if after_letter {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
        } else {
            out.push(c);
        }
        after_letter = cased;
    }
    out
}

/// The message child `name` sends.
pub fn greeting(name: &str) -> String {
    format!("hello! {}", title(name))
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let names = &args.names.0;
    // fd1: the children's end (they send), fd2: the parent's (it receives). Same names as the notes.
    let (fd1, fd2) = crate::pipe(true).context("Pipe()")?;
    out::say(format!(
        "parent pid {}: fd1, fd2 = Pipe() -> a socketpair (fds {} and {}), made before any child so every child inherits both",
        std::process::id(),
        fd1.fileno(),
        fd2.fileno()
    ));
    let fd1 = Cell::new(Some(fd1));
    let fd2 = Cell::new(Some(fd2));

    let mut jobs = Vec::new();
    for name in names {
        let child = common::spawn(name.clone(), || {
            // In the child: close our inherited copy of the parent's end. We never read from it,
            // and holding it would keep the socket alive for our sends if the parent vanished.
            drop(take_end(&fd2, "fd2")?);
            let fd1 = take_end(&fd1, "fd1")?;
            out::event(
                "child_ready",
                json!({"name": name}),
                format!(
                    "  {name} (pid {}): time.sleep(3), then fd1.send(...)",
                    std::process::id()
                ),
            );
            sleep(secs(3.0));
            let msg = greeting(name);
            fd1.send_obj(&msg).context("send")?;
            out::event("sent", json!({"name": name, "message": msg}), "");
            // Returning exits the child (_exit), which closes its copy of fd1.
            Ok(())
        })?;
        out::event(
            "started",
            json!({"name": child.name(), "child_pid": child.pid()}),
            "",
        );
        jobs.push(child);
    }
    // Every child has its copy of fd1 now; the parent's copy would only keep EOF from coming.
    drop(take_end(&fd1, "fd1")?);
    let fd2 = take_end(&fd2, "fd2")?;
    out::say(format!(
        "parent: started {} children, closed its own fd1, now fd2.recv() x {}",
        jobs.len(),
        names.len()
    ));

    let mut messages: Vec<String> = Vec::new();
    for _ in 0..names.len() {
        match fd2.recv_obj::<String>() {
            Ok(m) => {
                out::event(
                    "received",
                    json!({"message": m, "index": messages.len()}),
                    &m,
                );
                messages.push(m);
            }
            // Every child is gone and fewer greetings came than children: do not wait forever.
            Err(ConnError::Eof) => break,
            Err(e) => return Err(e).context("recv"),
        }
    }

    let mut children = Vec::new();
    let mut failed = Vec::new();
    for child in &mut jobs {
        let status = child.join()?;
        out::event(
            "joined",
            json!({"name": child.name(), "child_pid": child.pid(), "exit_code": status.python_exitcode()}),
            format!("joined {} (pid {}): {status}", child.name(), child.pid()),
        );
        failed.extend(child.failure());
        children
            .push(json!({"name": child.name(), "pid": child.pid(), "exit_code": status.python_exitcode()}));
    }

    // Every child is joined, so every copy of fd1 is closed: the next recv must be EOF. Anything
    // else is a greeting too many.
    let extra = match fd2.recv() {
        Err(ConnError::Eof) => 0,
        Ok(_) => 1,
        Err(e) => return Err(e).context("recv after the last child"),
    };
    if extra == 0 && messages.len() == names.len() {
        out::say("fd2.recv() once more: EOF, every copy of fd1 is closed and nothing is left");
    }
    let count = messages.len();
    out::summary(json!({
        "messages": messages,
        "count": count,
        "expected": names.len(),
        "eof_after_last": extra == 0,
        "children": children,
    }));
    if count != names.len() {
        bail!(
            "{} of {} greetings arrived before EOF (failed children: {})",
            count,
            names.len(),
            failed.join(", ")
        );
    }
    if extra != 0 {
        bail!("a message arrived after the last expected greeting");
    }
    if !failed.is_empty() {
        bail!("children failed: {}", failed.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_like_python() {
        assert_eq!(title("tom"), "Tom");
        assert_eq!(title("mary-ann"), "Mary-Ann");
        assert_eq!(title("abby2x"), "Abby2X");
        assert_eq!(title("SAM"), "Sam");
        assert_eq!(title("o_neil"), "O_Neil");
        assert_eq!(greeting("zack"), "hello! Zack");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(parse_names("a, b").unwrap().0, vec!["a", "b"]);
        assert!(parse_names("").is_err());
        assert!(parse_names("a,,b").is_err());
        assert!(parse_names("a b").is_err());
        let names = |n: usize| {
            (0..n)
                .map(|i| format!("x{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(parse_names(&names(64)).is_ok());
        assert!(parse_names(&names(65)).is_err());
        assert!(parse_names("tom,sam,Tom").is_err(), "a repeated name");
        assert!(parse_names(&"x".repeat(33)).is_err());
    }
}
