//! `cargo run -p threads [-- SUBCOMMAND] [--time-scale F] [--seed N] [--json]`
//!
//! Threads (note 000, the part after the ==== line); see `lib.rs` for the map of subcommands.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<threads::Cli>(threads::run)
}
