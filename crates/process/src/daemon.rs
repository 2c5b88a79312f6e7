//! (being written)
/// Run.
pub fn run() -> anyhow::Result<()> { anyhow::bail!("not yet") }
