//! `cargo run -p process [-- SUBCOMMAND] [--time-scale F] [--seed N] [--json]`
//!
//! The Process lifecycle of note 004; see `lib.rs` for the map of subcommands.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<process::Cli>(process::run)
}
