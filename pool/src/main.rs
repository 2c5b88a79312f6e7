//! `cargo run -p pool [-- SUBCOMMAND] [--workers N] [--timeline] [--time-scale F] [--seed N] [--json]`
//!
//! The process pool of note 000 (进程池) and note 004 (同步与异步); see `lib.rs` for the map of
//! subcommands.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<pool::Cli>(pool::run)
}
