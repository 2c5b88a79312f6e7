//! `cargo run -p shared-mem [-- SUBCOMMAND] [--time-scale F] [--seed N] [--json]`
//!
//! A shared Value (note 000 (3)); see `lib.rs` for the map of subcommands.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<shared_mem::Cli>(shared_mem::run)
}
