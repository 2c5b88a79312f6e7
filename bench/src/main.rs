//! `cargo run --release -p bench [-- --quick] [--only SUBSTRING] [--runs N] [--json]`
//!
//! Every mechanism of the workspace against its Python peer, a raw loop and the Rust crate a
//! user would pick instead; see `lib.rs`.

use std::process::ExitCode;

fn main() -> ExitCode {
    // procspawn, a Rust peer of the pool figures, starts its workers by running this binary
    // again with a marker in the environment: here such a worker takes over (it serves its
    // pool and exits, never reaching the bench). In the bench itself this only reads the
    // environment.
    procspawn::init();
    common::cli::main::<bench::Cli>(bench::run)
}
