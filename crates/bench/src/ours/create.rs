//! `threads`: not wired yet.
use crate::figure::Measure;
/// What the process column runs.
pub const PROCESS_WHAT: &str = "threads member not wired yet";
/// What the thread column runs.
pub const THREAD_WHAT: &str = "threads member not wired yet";
/// Process.
pub const PROCESS: Option<Measure> = None;
/// Thread.
pub const THREAD: Option<Measure> = None;
