//! Soak cases of the members other than `process` (see [`crate::soak`]): for each subcommand, how
//! to draw its parameters and what its summary must satisfy.

use crate::soak::Case;

/// The member cases (filled in as each member's summary is settled).
pub fn member_cases() -> Vec<Case> {
    Vec::new()
}
