//! ipc_semaphore_twice: release a semaphore exactly once per acquire.
//! 信号量：每次 acquire 只能 release 一次；多 release 一次，就多了一个许可，限流失效。
//!
//! Six worker processes share two licences. The semaphore is a pipe holding one byte per free
//! licence (GNU make's jobserver): acquire reads a byte (blocks when none is left), release
//! writes one back. Job 1 fails, and its error path gives the licence back... and then the
//! normal path gives it back again. From then on three licences exist. The checker asks that at
//! most two jobs ever run at once.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

common::shared_struct! {
    struct Stats {
        /// The next job to take (a ticket).
        next_job: AtomicU32,
        /// Jobs running right now, and the most ever seen.
        running: AtomicU32,
        most: AtomicU32,
    }
}

/// A counting semaphore made of a pipe: each byte in it is one free licence.
struct PipeSemaphore {
    take: File,
    give: File,
}

impl PipeSemaphore {
    fn new(licences: usize) -> anyhow::Result<Self> {
        let (r, w) = nix::unistd::pipe()?;
        let mut give = File::from(w);
        give.write_all(&vec![b'+'; licences])?;
        Ok(PipeSemaphore {
            take: File::from(r),
            give,
        })
    }
    fn acquire(&self) -> std::io::Result<()> {
        (&self.take).read_exact(&mut [0u8; 1])
    }
    fn release(&self) -> std::io::Result<()> {
        (&self.give).write_all(b"+")
    }
}

fn run_job(job: u32) -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(30));
    if job == 1 {
        return Err("the printer jammed".into());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let licences = PipeSemaphore::new(2)?;
    let stats = common::Shared::<Stats>::new_zeroed()?;
    let mut workers = Vec::new();
    for w in 0..6 {
        let (licences, stats) = (&licences, &stats);
        workers.push(common::spawn(format!("worker-{w}"), move || {
            licences.acquire()?;
            let job = stats.next_job.fetch_add(1, SeqCst);
            let now = stats.running.fetch_add(1, SeqCst) + 1;
            stats.most.fetch_max(now, SeqCst);
            let result = run_job(job);
            stats.running.fetch_sub(1, SeqCst);
            if let Err(why) = result {
                println!("job {job}: failed ({why})");
            }
            // Exactly one release for the one acquire, whatever happened to the job.
            licences.release()?;
            Ok(())
        })?);
    }
    for worker in &mut workers {
        worker.join()?;
    }
    println!("most jobs at once: {}", stats.most.load(SeqCst));
    Ok(())
}
