//! pool_map_order: map returns results in the order of its inputs.
//! pool.map 的结果顺序必须与输入顺序一致，而不是完成的先后顺序。
//!
//! Four worker processes square 1..=8 (worker w takes w+1, w+5). Small numbers take longer, so
//! results come back out of order. `Pool.map` promises `[1, 4, 9, ...]` anyway: each result must
//! go to the place of its input, not to the end of the list.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    let inputs: Vec<u64> = (1..=8).collect();
    let (reader, writer) = nix::unistd::pipe()?;
    let mut workers = Vec::new();
    for w in 0..4 {
        let writer = writer.try_clone()?;
        let inputs = &inputs;
        workers.push(common::spawn(format!("worker-{w}"), move || {
            let mut out = File::from(writer);
            for index in (w..inputs.len()).step_by(4) {
                let x = inputs[index];
                std::thread::sleep(Duration::from_millis(10 * (9 - x))); // uneven work
                // The whole line in one write(2): a pipe write of up to PIPE_BUF bytes is never
                // mixed with another process's (`writeln!` would write piece by piece).
                out.write_all(format!("{index} {}\n", x * x).as_bytes())?;
            }
            Ok(())
        })?);
    }
    drop(writer);
    // One slot per input; each result lands in the slot of its index.
    let mut results = vec![0u64; inputs.len()];
    for line in BufReader::new(File::from(reader)).lines() {
        let line = line?;
        let (index, value) = line.split_once(' ').unwrap_or(("0", "0"));
        results[index.parse::<usize>()?] = value.parse()?;
    }
    for worker in &mut workers {
        worker.join()?;
    }
    println!("results: {results:?}");
    Ok(())
}
