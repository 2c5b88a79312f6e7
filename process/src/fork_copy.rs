//! `fork-copy` (在UNIX创建的子进程，会拷贝父进程的初始状态, note 004).
//!
//! Python:
//!
//! ```python
//! from multiprocessing import Process
//!
//! value = 100
//! def change():
//!     global value
//!     value = 999
//!     print("child sees", value)
//!
//! p = Process(target=change); p.start(); p.join()
//! print("parent sees", value)      # 100
//! ```
//!
//! fork(2) gives the child a *copy* of the parent's memory (copy-on-write: pages are shared until
//! one side writes, then the writer gets its own copy). The child's store goes to its copy; the
//! parent's page is untouched. To share a value, both must map the *same* pages (`MAP_SHARED`):
//! that is the `shared-mem` demo. Threads, by contrast, share all memory: `threads shared`.

use anyhow::{ensure, Result};
use common::{json, out};
use std::sync::atomic::{AtomicI64, Ordering};

/// A plain global, like Python's module-level `value`.
static VALUE: AtomicI64 = AtomicI64::new(100);

/// Run the demo.
pub fn run() -> Result<()> {
    out::event(
        "before_fork",
        json!({"value": VALUE.load(Ordering::SeqCst)}),
        format!(
            "parent: value = {} before start()",
            VALUE.load(Ordering::SeqCst)
        ),
    );
    // The child reports what it saw through its exit code? No: through its own output line, and
    // through a shared slot so the parent can put it in the summary.
    let seen = common::Shared::<AtomicI64>::new_zeroed()?;
    let mut c = common::spawn("changer", || {
        VALUE.store(999, Ordering::SeqCst);
        let v = VALUE.load(Ordering::SeqCst);
        seen.store(v, Ordering::SeqCst);
        out::event(
            "child_changed",
            json!({"value": v}),
            format!("  child (pid {}): set value = {v}", std::process::id()),
        );
        Ok(())
    })?;
    c.join()?;
    let parent_value = VALUE.load(Ordering::SeqCst);
    let child_value = seen.load(Ordering::SeqCst);
    out::event(
        "after_join",
        json!({"value": parent_value}),
        format!(
            "parent: value = {parent_value} after join(): the child changed its own copy, not ours"
        ),
    );
    ensure!(
        parent_value == 100,
        "the child's write reached the parent: {parent_value}"
    );
    out::summary(json!({"parent_value": parent_value, "child_value": child_value}));
    Ok(())
}
