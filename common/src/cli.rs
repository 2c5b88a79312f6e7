//! The command line every demo shares, and the `main -> run -> ExitCode` frame.
//!
//! Every binary flattens [`CommonArgs`] into its clap parser (the flags are `global`, so they go
//! before or after a subcommand) and calls [`main`] with its parser type and its own `run`:
//!
//! ```ignore
//! fn main() -> ExitCode { common::cli::main::<Cli>(process::run) }
//! ```
//!
//! Exit status: 0 success; 1 runtime failure or a broken invariant; 2 usage error. For 1 and 2,
//! stderr carries exactly one line starting `error:`. clap's own message is several lines
//! (usage, a `--help` hint); we keep its first line, which names the flag and the value.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, FromArgMatches, Parser};

/// Flags common to every demo.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Multiply every simulated sleep by F (1 = the notes' pace, 0 = no sleeping; at most 1000).
    #[arg(long, global = true, default_value = "1", value_name = "F",
          value_parser = crate::clock::parse_time_scale)]
    pub time_scale: f64,
    /// Seed all randomness; without it a random seed is chosen and reported.
    #[arg(long, global = true, value_name = "N")]
    pub seed: Option<u64>,
    /// Print JSON Lines on stdout instead of prose (diagnostics stay on stderr).
    #[arg(long, global = true)]
    pub json: bool,
}

/// A usage error found after parsing (a value out of range that depends on another flag, say).
/// [`main`] turns it into exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

/// Build a usage error worded like clap's: `invalid value 'V' for '--flag': why`.
pub fn usage(
    flag: &str,
    value: impl std::fmt::Display,
    why: impl std::fmt::Display,
) -> anyhow::Error {
    anyhow::Error::new(UsageError(format!(
        "invalid value '{value}' for '{flag}': {why}"
    )))
}

/// Parse the command line (exit 2 on a usage error), set up seed, time scale and output, run the
/// demo, and map its result to an exit status.
pub fn main<T: Parser>(run: impl FnOnce(T) -> Result<()>) -> ExitCode {
    // `--timeout -1` must reach the value parser (and get "must be >= 0") rather than be taken
    // for an unknown flag `-1`: allow negative numbers as values, in every subcommand.
    fn negative_numbers_as_values(cmd: clap::Command) -> clap::Command {
        cmd.allow_negative_numbers(true)
            .mut_subcommands(negative_numbers_as_values)
    }
    // One parse gives both the demo's own flags and the common ones: the common flags are
    // `global`, so clap also records them at the top level, wherever they were given.
    let parsed = negative_numbers_as_values(T::command())
        .try_get_matches()
        .and_then(|m| Ok((T::from_arg_matches(&m)?, CommonArgs::from_arg_matches(&m)?)));
    let (cli, common) = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("error: bad command line");
            eprintln!("{first}");
            return ExitCode::from(2);
        }
    };
    let seed = common.seed.unwrap_or_else(rand::random);
    crate::rng::set_seed(seed);
    crate::clock::set_time_scale(common.time_scale);
    crate::out::init(common.json);
    // From here on, Ctrl-C or SIGTERM at any moment ends the demo the same way: every child is
    // killed and reaped, one `error:` line, exit 130 or 143.
    if let Err(e) = crate::child::install_stop_handlers() {
        eprintln!("error: sigaction(SIGINT/SIGTERM): {e}");
        return ExitCode::from(1);
    }
    let result = run(cli);
    crate::out::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: "mq_open: Permission denied".
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Check a count against `1..=cap`, for flags whose cap depends on nothing else but must be
/// named in `--help` ("at most 64").
pub fn check_range(flag: &str, value: u64, min: u64, cap: u64) -> Result<()> {
    if value < min || value > cap {
        return Err(usage(flag, value, format!("must be in {min}..={cap}")));
    }
    Ok(())
}
