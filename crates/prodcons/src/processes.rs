//! `--mode processes`: (written once the `queue` member's cross-process queue exists).

use anyhow::{bail, Result};

use crate::roles::{Books, Spec};
use crate::{Ending, Item};

/// Run one phase with processes.
pub fn run(_spec: &Spec, _books: Books<'_>) -> Result<(Vec<Ending>, Vec<Item>)> {
    bail!("--mode processes is not available yet: it needs the queue member's cross-process queue")
}
