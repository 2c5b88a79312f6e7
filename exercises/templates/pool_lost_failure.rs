//! pool_lost_failure: a task that fails must fail the whole map.
//! 进程池里某个任务失败了，结果却悄悄丢了：检查每个 worker 的退出状态。
//!
//! Three worker processes square the numbers 0..10 (worker w takes w, w+3, w+6, ...) and send
//! `x result` lines back over one pipe. Task 7 panics. Python's `apply_async` without `.get()`
//! loses that exception silently, and so does a parent that only counts the lines it received:
//! it prints a wrong sum as if all went well. Check how each worker ended and report the failure
//! (exit status 1, an error naming the task); print no sum.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};

fn square(x: u64) -> u64 {
    if x == 7 {
        panic!("bad input {x}");
    }
    x * x
}

fn main() -> anyhow::Result<()> {
    let (reader, writer) = nix::unistd::pipe()?;
    let mut workers = Vec::new();
    for w in 0..3u64 {
        let writer = writer.try_clone()?;
        workers.push(common::spawn(format!("worker-{w}"), move || {
            let mut out = File::from(writer);
            for x in (w..10).step_by(3) {
                // One short line per write(2): lines from the three workers never mix.
                // (`writeln!` would make a write(2) per piece of the line, and they could.)
                out.write_all(format!("{x} {}\n", square(x)).as_bytes())?;
            }
            Ok(())
        })?);
    }
    drop(writer);
    let mut sum = 0;
    for line in BufReader::new(File::from(reader)).lines() {
        let line = line?;
        let (_, result) = line.split_once(' ').unwrap_or(("", "0"));
        sum += result.parse::<u64>()?;
    }
    for worker in &mut workers {
        // TODO: join tells how the worker ended. Does anyone look?
        worker.join()?;
    }
    println!("sum of squares: {sum}");
    Ok(())
}
