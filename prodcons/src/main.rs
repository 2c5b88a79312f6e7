//! `cargo run -p prodcons [-- --producers N --consumers N --items N --capacity N --mode M ...]`
//!
//! Producers and consumers decoupled by a bounded blocking queue (note 004); see `lib.rs`.

use std::process::ExitCode;

fn main() -> ExitCode {
    common::cli::main::<prodcons::Cli>(prodcons::run)
}
