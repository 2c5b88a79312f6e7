//! `cargo run -p exercises [-- check NAME | hint NAME | reset NAME | watch | check --all]`:
//! the checked classroom exercises. See the library's module doc for what it checks and how.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<exercises::Cli>(exercises::run)
}
