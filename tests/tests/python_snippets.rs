//! Every Python snippet in the workspace's doc comments runs under `python3` as written.
//!
//! A module doc shows the Python shape of its demo so a student can map one to the other; a
//! snippet that does not run (an IndentationError, a name never defined) teaches the wrong
//! thing. This test finds every fenced block tagged `python` in a `//!` or `///` comment, and
//! runs it with `python3 -c` under the harness's rules (own process group, timeout, nothing
//! left behind). `time.sleep` is shortened to at most 10 ms first, so the notes' pace (sleeps
//! of seconds) does not slow the suite; what the snippet prints is not checked, only that it
//! exits 0.
//!
//! A block meant to show an error is tagged `text`. To keep Python from hiding under that tag,
//! a `text` block that looks like a Python program (an `import` plus a `def` or `print(`) fails
//! the test too: tag it `python` and make it run, or make it not a program.

use std::path::{Path, PathBuf};

/// Shorten every sleep: a snippet may sleep as the notes do (seconds), the test cannot.
const PRELUDE: &str = "import time as _time\n\
_real_sleep = _time.sleep\n\
_time.sleep = lambda s: _real_sleep(min(s, 0.01))\n";

struct Snippet {
    file: PathBuf,
    line: usize,
    tag: String,
    code: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The fenced blocks of one file's doc comments, with their tag (`python`, `text`, ...).
fn snippets_in(file: &Path) -> Vec<Snippet> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut found = Vec::new();
    let mut open: Option<Snippet> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let Some(doc) = trimmed
            .strip_prefix("//!")
            .or_else(|| trimmed.strip_prefix("///"))
        else {
            // A doc comment ended: so does any block left open in it.
            open = None;
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if let Some(fence) = doc.trim().strip_prefix("```") {
            match open.take() {
                Some(block) => found.push(block),
                None => {
                    open = Some(Snippet {
                        file: file.to_path_buf(),
                        line: i + 1,
                        tag: fence.trim().to_string(),
                        code: String::new(),
                    })
                }
            }
        } else if let Some(block) = open.as_mut() {
            block.code.push_str(doc);
            block.code.push('\n');
        }
    }
    found
}

fn workspace_snippets() -> Vec<Snippet> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the workspace root");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files.iter().flat_map(|f| snippets_in(f)).collect()
}

fn looks_like_a_python_program(code: &str) -> bool {
    let imports = code
        .lines()
        .any(|l| l.starts_with("import ") || l.starts_with("from "));
    imports && (code.contains("def ") || code.contains("print("))
}

#[test]
fn every_python_snippet_in_a_doc_comment_runs() {
    let python = tests::require_python3();
    let snippets = workspace_snippets();
    let python_ones: Vec<&Snippet> = snippets
        .iter()
        .filter(|s| s.tag.split(',').any(|t| t.trim() == "python"))
        .collect();
    assert!(
        python_ones.len() >= 5,
        "expected the members' module docs to show their Python shape; found {} python blocks",
        python_ones.len()
    );
    let mut failures = Vec::new();
    for s in &python_ones {
        let program = format!("{PRELUDE}{}", s.code);
        let run =
            tests::start_program(&python, "python3 -c", &["-c", &program], usize::MAX).finish();
        if run.code() != Some(0) {
            failures.push(format!(
                "{}:{}: this Python does not run:\n{}\n{}",
                s.file.display(),
                s.line,
                s.code,
                run.report()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn python_programs_are_not_hidden_in_text_blocks() {
    let hidden: Vec<String> = workspace_snippets()
        .iter()
        .filter(|s| s.tag == "text" && looks_like_a_python_program(&s.code))
        .map(|s| format!("{}:{}", s.file.display(), s.line))
        .collect();
    assert!(
        hidden.is_empty(),
        "Python programs in ```text blocks (tag them ```python so they are run): {hidden:?}"
    );
}
