//! (being written)
/// Flags.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {}
/// Run.
pub fn run(_a: &Args) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
