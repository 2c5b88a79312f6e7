//! `shared-mem`: not wired yet.
use crate::figure::Measure;
/// What the locked column runs.
pub const LOCKED_WHAT: &str = "shared-mem member not wired yet";
/// What the atomic column runs.
pub const ATOMIC_WHAT: &str = "shared-mem member not wired yet";
/// Locked.
pub const LOCKED: Option<Measure> = None;
/// Atomic.
pub const ATOMIC: Option<Measure> = None;
