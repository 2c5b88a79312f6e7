//! `queue`: not landed yet.
use crate::figure::Measure;
/// What the column runs.
pub const WHAT: &str = "queue member not landed yet";
/// 1P1C.
pub const ONE_ONE: Option<Measure> = None;
/// The raw loop for the queue's primitive.
pub const RAW: Option<Measure> = Some(crate::raw::stream::small);
/// What the raw loop is.
pub const RAW_WHAT: &str = "pipe(2), one 16-byte write per message, reader reads 64 KiB at a time";
