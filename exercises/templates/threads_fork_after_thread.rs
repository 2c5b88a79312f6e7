//! threads_fork_after_thread: fork first, start threads after.
//! 先 fork 子进程，再启动线程：多线程进程里 fork，子进程只剩一个线程，别的线程持有的锁永远不会释放。
//!
//! fork(2) copies only the calling thread. Any lock another thread held at that instant (stdout's,
//! the allocator's, one of yours) stays locked forever in the child. So `common::spawn` refuses to
//! fork a process that has other threads. Start the worker processes while the program is still
//! single-threaded; start the progress thread afterwards.

use std::thread;
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    let progress = thread::spawn(|| {
        for tick in 0..3 {
            println!("progress: tick {tick}");
            thread::sleep(Duration::from_millis(10));
        }
    });
    // TODO: common::spawn refuses to fork here. Why, and what order works?
    let mut workers = Vec::new();
    for i in 0..2 {
        workers.push(common::spawn(format!("worker-{i}"), move || {
            println!("worker {i}: done");
            Ok(())
        })?);
    }
    for worker in &mut workers {
        worker.join()?;
    }
    progress.join().expect("progress thread panicked");
    println!("main: all done");
    Ok(())
}
