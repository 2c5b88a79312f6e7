//! `cargo run -p pipe [-- SUBCOMMAND] [--time-scale F] [--seed N] [--json]`
//!
//! Pipes between processes (note 000, (1) 管道通信); see `lib.rs` for the map of subcommands.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<pipe::Cli>(pipe::run)
}
