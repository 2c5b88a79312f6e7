//! `pool`: not landed yet.
use crate::figure::Measure;
/// What the column runs.
pub const WHAT: &str = "pool member not landed yet";
/// `apply` round trip.
pub const APPLY: Option<Measure> = None;
/// `apply_async` throughput.
pub const APPLY_ASYNC: Option<Measure> = None;
/// `map`, default chunks.
pub const MAP_DEFAULT: Option<Measure> = None;
/// `map`, chunk size 1.
pub const MAP_CHUNK1: Option<Measure> = None;
