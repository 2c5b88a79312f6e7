//! `cargo run -p ipc [-- SUBCOMMAND] [--time-scale F] [--seed N] [--json]`
//!
//! The six IPC mechanisms of note 000 side by side; see `lib.rs` for the map.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<ipc::Cli>(ipc::run)
}
