//! `pipe`: not wired yet.
use crate::figure::Measure;
/// What the column runs.
pub const WHAT: &str = "pipe member not wired yet";
/// Ping-pong.
pub const PINGPONG: Option<Measure> = None;
/// Small messages.
pub const SMALL: Option<Measure> = None;
/// 64 KiB.
pub const BIG: Option<Measure> = None;
