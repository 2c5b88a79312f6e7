//! `cargo run -p tests --bin soak -- [--runs N] [--seed S] [--filter demo/case] [--interrupt-every K]`
//!
//! Runs the demos many times with random parameters and faults and prints the totals; exit 1 if
//! any run broke an invariant, hung, or left something behind. See `tests::soak`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut runs = 200u64;
    let mut seed = 1u64;
    let mut filter = String::new();
    let mut interrupt_every = 5u64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        let num = || value.parse::<u64>();
        match (args[i].as_str(), num()) {
            ("--runs", Ok(n)) if n > 0 => runs = n,
            ("--seed", Ok(n)) => seed = n,
            ("--interrupt-every", Ok(n)) => interrupt_every = n,
            ("--filter", _) if !value.is_empty() => filter = value,
            (flag, _) => {
                eprintln!("error: invalid value '{value}' for '{flag}' (flags: --runs N>0, --seed N, --filter TEXT, --interrupt-every K)");
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    let t0 = std::time::Instant::now();
    let totals = tests::soak::soak(runs, seed, &filter, interrupt_every);
    for f in &totals.failures {
        println!("FAIL {f}");
    }
    println!("soak: {totals} in {:.1} s", t0.elapsed().as_secs_f64());
    if totals.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
