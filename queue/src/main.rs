//! `cargo run -p queue [-- SUBCOMMAND] [--time-scale F] [--seed N] [--json]`
//!
//! A cross-process FIFO queue (note 000 (2) and note 004); see `lib.rs` for the map.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<queue::Cli>(queue::run)
}
