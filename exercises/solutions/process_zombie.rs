//! process_zombie: reap every child you start.
//! 回收你启动的每一个子进程（僵尸进程）。
//!
//! Python: `p.start()` for three workers, then carrying on without `p.join()`. A child that has
//! exited stays in the process table as a zombie (state `Z`) until its parent collects its exit
//! status with waitpid(2). Rust's `std::process::Child` does NOT wait when it is dropped.
//!
//! The checker stops your program at `checkpoint()` and looks at its children: by then every
//! worker must be finished AND reaped. Run: `cargo run -p exercises -- check process_zombie`.

use std::io::BufRead;
use std::process::Command;

/// The checker inspects your process here, then lets it go on. Leave this call in place.
/// (Run by hand? Press Enter.)
fn checkpoint() {
    println!("== checkpoint ==");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

fn main() -> std::io::Result<()> {
    let mut workers = Vec::new();
    for i in 0..3 {
        // fork + exec of a tiny shell program: the worker prints one line and exits.
        let child = Command::new("sh")
            .args(["-c", &format!("echo 'worker {i}: done'")])
            .spawn()?;
        workers.push(child);
    }
    // waitpid(2) on each worker: blocks until it exits, then removes its zombie.
    for mut worker in workers {
        let status = worker.wait()?;
        println!("main: reaped worker {} ({status})", worker.id());
    }
    checkpoint();
    println!("main: still serving, no zombies");
    Ok(())
}
