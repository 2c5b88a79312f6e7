//! Compiling an exercise file, outside the workspace build.
//!
//! The files a student edits are not targets of any workspace package, so a half-finished answer
//! never breaks `cargo build --workspace` or `cargo test --workspace`. To compile one, the checker
//! writes a small throw-away package under `target/exercises/<tag>/` whose `[[bin]]` targets point
//! at the files of one source folder (`exercises/exercises/` normally, `--source DIR` for the
//! templates, the solutions or a copy), with `common`, `nix` and `anyhow` as dependencies and the
//! workspace's `Cargo.lock`, and runs `cargo build --bin <tag>-NAME` on it. It shares the
//! workspace's `target/` directory, so the dependencies compiled for the demos are reused and an
//! exercise compiles in about a second.
//!
//! Alternatives not taken: `[[example]]` targets of this package (`cargo test` and
//! `cargo clippy --all-targets` compile examples, so one unfinished answer would break them), and
//! calling `rustc` by hand (it would need the path of every dependency's `.rlib`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::catalog::{Exercise, ALL};

/// The workspace root (the parent of this package).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).unwrap_or(here)
}

/// The outcome of compiling one exercise.
#[derive(Debug)]
pub enum Built {
    Ok(PathBuf),
    /// The compiler's messages, as cargo rendered them.
    CompileError(String),
    /// There is no such file in the source folder.
    Missing(PathBuf),
}

/// A short tag naming a source folder, used in the package and binary names.
fn tag_for(source: &Path) -> String {
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let known = crate::exercises_dir().join(&name) == source;
    match name.as_str() {
        "exercises" | "templates" | "solutions" if known => name,
        _ => {
            // Any other folder (a temporary copy, say): a hash of its path keeps two folders apart.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in source.as_os_str().as_encoded_bytes() {
                h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
            format!("dir{h:016x}")
        }
    }
}

/// Write `text` to `path` unless it already holds exactly that (another checker may be building
/// from the same folder right now: it sees either the old or the new file, never half of one).
fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// Write the throw-away package for `source` and return its manifest path.
fn package_for(source: &Path) -> Result<(PathBuf, String)> {
    let root = workspace_root();
    let tag = tag_for(source);
    let dir = root.join("target").join("exercises").join(&tag);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let mut manifest = format!(
        "# Written by the exercises checker for the files of {src}; edit those, not this.\n\
         [package]\nname = \"exercise-attempts-{tag}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         publish = false\n\n\
         # Not part of the repository's workspace.\n[workspace]\n\n\
         [dependencies]\n\
         common = {{ path = {common:?} }}\n\
         anyhow = \"1\"\n\
         nix = {{ version = \"0.29\", features = [\"process\", \"signal\", \"mman\", \"mqueue\", \
         \"sched\", \"resource\", \"poll\", \"fs\", \"time\", \"uio\"] }}\n\n\
         [lints.rust]\nunsafe_code = \"forbid\"\n",
        src = source.display(),
        common = root.join("common").display().to_string(),
    );
    for ex in ALL {
        let file = source.join(format!("{}.rs", ex.name));
        if file.exists() {
            manifest.push_str(&format!(
                "\n[[bin]]\nname = \"{tag}-{}\"\npath = {:?}\n",
                ex.name,
                file.display().to_string()
            ));
        }
    }
    write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
    // The workspace's lock file: the same versions as the demos, already downloaded and built.
    // Cargo trims the copy to this package's dependencies, so compare with the copy of the
    // workspace's lock taken last time, and copy again when the workspace's has changed.
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("read Cargo.lock")?;
    let seen = dir.join("Cargo.lock.workspace");
    if std::fs::read_to_string(&seen).ok().as_deref() != Some(lock.as_str()) {
        write_if_changed(&dir.join("Cargo.lock"), &lock)?;
        write_if_changed(&seen, &lock)?;
    }
    Ok((dir.join("Cargo.toml"), tag))
}

/// Compile the given exercises of `source` in one cargo run (`--keep-going`: one that does not
/// compile does not stop the others). Returns one result per exercise, in the order given.
pub fn build(source: &Path, exercises: &[&Exercise]) -> Result<Vec<Built>> {
    // One checker at a time writes a package and builds (tests run several at once): flock(2)
    // blocks in the kernel until the other has finished; cargo would serialise the builds on
    // its own lock anyway, but not our writes of the manifest and of the lock file before it.
    let lock_dir = workspace_root().join("target").join("exercises");
    std::fs::create_dir_all(&lock_dir).with_context(|| format!("create {}", lock_dir.display()))?;
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_dir.join("build.lock"))
        .context("open target/exercises/build.lock")?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .context("flock(target/exercises/build.lock)")?;
    let (manifest, tag) = package_for(source)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(workspace_root().join("target"))
        .args(["--keep-going", "--message-format=json"]);
    let mut present = Vec::new();
    for ex in exercises {
        if source.join(format!("{}.rs", ex.name)).exists() {
            cmd.arg("--bin").arg(format!("{tag}-{}", ex.name));
            present.push(ex.name);
        }
    }
    if present.is_empty() {
        return Ok(exercises
            .iter()
            .map(|ex| missing(source, ex))
            .collect::<Vec<_>>());
    }
    // Cargo's own messages ("Compiling ...") are not the student's business; errors come back
    // in the JSON messages, rendered as rustc prints them.
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("run cargo build")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut exes = std::collections::HashMap::new();
    let mut errors: std::collections::HashMap<String, String> = Default::default();
    for v in stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let target = v["target"]["name"].as_str().unwrap_or("").to_string();
        let Some(name) = target.strip_prefix(&format!("{tag}-")).map(str::to_string) else {
            continue;
        };
        match v["reason"].as_str() {
            Some("compiler-artifact") => {
                if let Some(exe) = v["executable"].as_str() {
                    exes.insert(name, PathBuf::from(exe));
                }
            }
            Some("compiler-message") if v["message"]["level"] == "error" => {
                let text = v["message"]["rendered"].as_str().unwrap_or("");
                errors.entry(name).or_default().push_str(text);
            }
            _ => {}
        }
    }
    if exes.is_empty() && errors.is_empty() && !out.status.success() {
        bail!(
            "cargo build of the exercises failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(exercises
        .iter()
        .map(|ex| match exes.remove(ex.name) {
            Some(exe) => Built::Ok(exe),
            None => match errors.remove(ex.name) {
                Some(text) => Built::CompileError(text),
                None if present.contains(&ex.name) => Built::CompileError(format!(
                    "cargo built no program for {}:\n{}",
                    ex.name,
                    String::from_utf8_lossy(&out.stderr)
                )),
                None => missing(source, ex),
            },
        })
        .collect())
}

fn missing(source: &Path, ex: &Exercise) -> Built {
    Built::Missing(source.join(format!("{}.rs", ex.name)))
}
