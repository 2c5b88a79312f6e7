//! Running a Python peer: `python3 bench/python/<script> FIGURE SIZE RUNS`, one process
//! per figure, which prints `{"values": [...]}` (one value per run, already in the figure's unit).
//!
//! The interpreter is a separate program, so it is started with `std::process::Command`
//! (fork + exec inside std, `posix_spawn` where possible), not `common::spawn`, which forks a copy
//! of *this* program. `output()` waits for it, so it is reaped on every path that returns; on
//! Ctrl-C the terminal's SIGINT reaches it too (same process group), and the harness script asks
//! the kernel to kill it if the bench dies first (`PR_SET_PDEATHSIG`).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Where the peers live: next to this crate's sources, whatever the current directory is.
pub fn script_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// Whether `python` runs and has `multiprocessing` with the fork start method.
pub fn check(python: &str) -> Result<()> {
    let out = Command::new(python)
        .args([
            "-c",
            "import multiprocessing; multiprocessing.set_start_method('fork')",
        ])
        .output()
        .with_context(|| format!("running {python}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "{python} cannot fork with multiprocessing: {}",
            err.lines().last().unwrap_or("(no message)")
        );
    }
    Ok(())
}

/// Run `figure` of `script` with `size` operations per run, `runs` times (after one warm-up).
pub fn run(python: &str, script: &str, figure: &str, size: usize, runs: usize) -> Result<Vec<f64>> {
    let path = script_dir().join(script);
    let out = Command::new(python)
        .arg(&path)
        .arg(figure)
        .arg(size.to_string())
        .arg(runs.to_string())
        .current_dir(script_dir())
        .output()
        .with_context(|| format!("running {python} {}", path.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("(no message)");
        bail!("{python} {script} {figure} failed ({}): {last}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .last()
        .with_context(|| format!("{script} {figure} printed nothing"))?;
    parse(line).with_context(|| format!("{script} {figure} printed {line:?}"))
}

/// The values of a peer's output line.
pub fn parse(line: &str) -> Result<Vec<f64>> {
    let v: serde_json::Value = serde_json::from_str(line)?;
    let values = v["values"]
        .as_array()
        .context("no \"values\" array")?
        .iter()
        .map(|x| x.as_f64().context("a value is not a number"))
        .collect::<Result<Vec<f64>>>()?;
    if values.is_empty() || values.iter().any(|x| !x.is_finite() || *x <= 0.0) {
        bail!("values must be positive finite numbers: {values:?}");
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_peer_line() {
        let v = parse(r#"{"figure": "apply", "size": 10, "values": [1.5, 2, 3.25]}"#).unwrap();
        assert_eq!(v, vec![1.5, 2.0, 3.25]);
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"values": []}"#).is_err());
        assert!(parse(r#"{"values": [1, "x"]}"#).is_err());
        assert!(parse(r#"{"values": [0.0]}"#).is_err());
    }

    #[test]
    fn every_peer_script_is_there() {
        for f in crate::figures::all() {
            if let Some((script, _)) = f.python {
                assert!(script_dir().join(script).is_file(), "{script} for {}", f.id);
            }
        }
    }
}
