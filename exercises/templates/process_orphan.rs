//! process_orphan: do not leave before your child is done.
//! 父进程先走了：子进程成了孤儿。等它结束（join）再退出。
//!
//! Python: `p.start()` then the main program ends without `p.join()`. Unlike Python's
//! multiprocessing (which joins non-daemon children at exit), a Unix parent that returns from
//! `main` simply leaves: the child is re-parented (to init, or to a "subreaper") and keeps
//! running, an orphan nobody waits for. The checker fails if any process of yours is still
//! there when `main` returns, and expects the backup to report that it finished.

use std::process::Command;

fn main() -> std::io::Result<()> {
    // The backup takes a while (0.3 s of "copying").
    let backup = Command::new("sh")
        .args(["-c", "sleep 0.3; echo 'backup: finished'"])
        .spawn()?;
    println!("main: started the backup, pid {}", backup.id());
    // TODO: Python's p.join(). Leaving now abandons the backup.
    println!("main: bye");
    Ok(())
}
