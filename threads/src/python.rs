//! Running a small Python script beside a demo, to print Python's own figure next to ours.
//!
//! When `python3` is on the PATH, [`run`] starts it with `-c SCRIPT`, in its own process group
//! (a Ctrl-C meant for the demo's group is then not delivered to it twice), and reads what it
//! prints. The script first asks the kernel to kill it if the demo dies (`prctl(PR_SET_PDEATHSIG)`
//! through ctypes, then checks `getppid()` in case the demo died before that call): so no Python
//! process outlives the demo, even after a SIGKILL. Without `python3`, [`run`] returns `None` and
//! the demo says so.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Put before every script: die with the demo (argv[1] is the demo's pid).
const DIE_WITH_PARENT: &str = "\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    os._exit(1)  # the demo is already gone
";

/// Run `script` under `python3 -c` with `args` (as `sys.argv[2:]`); its stdout, or `None` if
/// there is no `python3` here. A script that fails is an error carrying its stderr.
pub fn run(script: &str, args: &[String]) -> Result<Option<String>> {
    let code = format!("{DIE_WITH_PARENT}{script}");
    let out = Command::new("python3")
        .arg("-c")
        .arg(&code)
        .arg(std::process::id().to_string())
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("spawn python3"),
    };
    if !out.status.success() {
        bail!(
            "python3 failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Some(
        String::from_utf8(out.stdout).context("python3 printed non-UTF-8")?,
    ))
}
