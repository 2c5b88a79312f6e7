//! `cargo run --release -p bench [-- --quick] [--only SUBSTRING] [--runs N] [--json]`
//!
//! Every mechanism of the workspace against its Python peer and a raw loop; see `lib.rs`.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<bench::Cli>(bench::run)
}
