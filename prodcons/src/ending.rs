//! How each producer and consumer ended, and the close that follows when one side is gone.
//!
//! Whoever watches the roles (the main thread in [`crate::threads`], the parent process in
//! [`crate::processes`]) makes one [`Ending`] per role as it ends, prints it, and closes the
//! buffer ([`close`]) as soon as every producer, or every consumer, is gone.

use common::{json, out};

use crate::ledger::Side;
use crate::roles::Buffer;

/// How one producer or consumer ended.
#[derive(Debug, Clone)]
pub struct Ending {
    /// Producer or consumer.
    pub side: Side,
    /// 0-based.
    pub index: u32,
    /// The child's pid (process mode).
    pub pid: Option<i32>,
    /// What happened.
    pub outcome: Outcome,
}

/// The end of a role.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Finished; items put or got.
    Done(u32),
    /// Did not finish: the whole sentence saying how (`killed by SIGKILL`, `exited with code
    /// 1`, from [`common::child::describe_failure`] for a process; `failed: why` for a thread
    /// whose role returned an error).
    Failed(String),
    /// Panicked: the panic's message (and place).
    Panicked(String),
}

impl Ending {
    /// A normal end after `items` items.
    pub fn ok(side: Side, index: u32, items: u32) -> Ending {
        Ending {
            side,
            index,
            pid: None,
            outcome: Outcome::Done(items),
        }
    }
    /// Any other failure; `how` is the whole sentence (`killed by SIGKILL`).
    pub fn failed(side: Side, index: u32, how: String) -> Ending {
        Ending {
            side,
            index,
            pid: None,
            outcome: Outcome::Failed(how),
        }
    }
    /// A panic.
    pub fn panicked(side: Side, index: u32, message: String) -> Ending {
        Ending {
            side,
            index,
            pid: None,
            outcome: Outcome::Panicked(message),
        }
    }

    /// Whether the role finished normally.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Done(_))
    }

    /// `producer 2 (pid 1234)`.
    pub fn who(&self) -> String {
        let pid = self.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        format!("{} {}{pid}", self.side.name(), self.index + 1)
    }

    /// How it failed (`panicked: boom`, `killed by SIGKILL`), the words of
    /// [`common::child::describe_failure`]; `None` for a normal end.
    pub fn failure(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Done(_) => None,
            Outcome::Failed(how) => Some(how.clone()),
            Outcome::Panicked(message) => Some(format!("panicked: {message}")),
        }
    }

    /// Print how it ended: one event per role.
    pub fn report(&self) {
        let mut fields = serde_json::Map::new();
        fields.insert("role".into(), json!(self.side.name()));
        fields.insert("index".into(), json!(self.index + 1));
        if let Some(pid) = self.pid {
            fields.insert("child_pid".into(), json!(pid));
        }
        match &self.outcome {
            Outcome::Done(n) => {
                fields.insert("items".into(), json!(n));
                let what = match self.side {
                    Side::Producer => format!("done: put {n} items"),
                    Side::Consumer => format!("done: got {n} items; the queue is closed and empty"),
                };
                out::event(
                    "done",
                    fields.into(),
                    format!("{}{} {what}", self.side.letter(), self.index + 1),
                );
            }
            Outcome::Failed(message) | Outcome::Panicked(message) => {
                let name = match self.outcome {
                    Outcome::Panicked(_) => "panicked",
                    _ => "failed",
                };
                fields.insert("message".into(), json!(message));
                let how = self.failure().unwrap_or_default();
                out::event(
                    name,
                    fields.into(),
                    format!("!! {} {how}. The others go on.", self.who()),
                );
            }
        }
    }

    /// The role's entry in the summary.
    pub fn to_json(&self) -> serde_json::Value {
        let (status, message) = match &self.outcome {
            Outcome::Done(_) => ("done", None),
            Outcome::Failed(m) => ("failed", Some(m.clone())),
            Outcome::Panicked(m) => ("panicked", Some(m.clone())),
        };
        json!({"role": self.side.name(), "index": self.index + 1, "pid": self.pid,
               "status": status, "message": message})
    }
}

/// Close the buffer, saying why. Called once per run by whoever watches the roles: when the last
/// producer is gone (consumers drain, then stop), or the last consumer (no producer may wait
/// forever on a full buffer that nobody will empty).
pub fn close(buf: &dyn Buffer, no_consumer_left: bool) {
    let (reason, prose) = if no_consumer_left {
        (
            "no_consumer_left",
            "-- no consumer is left: close the queue, so no producer waits forever on a full buffer",
        )
    } else {
        (
            "producers_done",
            "-- every producer is done: close the queue; consumers drain it, then stop",
        )
    };
    out::event("closed", json!({"reason": reason}), prose);
    buf.close();
}
