//! Eclipse iceoryx2's publish-subscribe service: the maintained Rust crate for messages
//! between processes through shared memory (lock-free queues of offsets into a shared data
//! segment; zero-copy: a sample is written in place and its offset is what travels).
//!
//! The service is made like the workspace's queue of 1024: the subscriber buffers up to 1024
//! samples, the publisher waits rather than drop or overwrite when that buffer is full
//! (`enable_safe_overflow(false)`, `BackpressureStrategy::RetryUntilDelivered`), no history.
//! A sample is the notes' `(2, i)` as `[u64; 2]`, sent with `send_copy`.
//!
//! iceoryx2's subscriber has no blocking receive: `receive()` returns at once, and a process
//! that wants to sleep until a sample arrives pairs the service with an event service and has
//! the publisher notify it (one more system call per notification). This peer polls, spinning
//! with backoff and then yielding, which is the fastest iceoryx2 can deliver and costs a CPU
//! while it waits (ours sleeps in a futex).
//!
//! Each process makes its own `Node`, with signal handling off so it leaves the bench's
//! handlers alone; the whole measurement runs [`isolated`]. iceoryx2 names its shared memory
//! (`/dev/shm`) and keeps bookkeeping files (`/tmp/iceoryx2`); a node removes its own when it
//! is dropped, but one segment per domain (`*.global_mgmt`, a node counter) is meant to outlive
//! every node. So the bench runs in a domain of its own (the file prefix `iox2_bench_<pid>_`)
//! and removes that one file itself at the end, leaving nothing behind, and nothing of another
//! program's iceoryx2 domain is touched.

use std::time::Instant;

use anyhow::{anyhow, ensure, Context, Result};
use common::backoff::Backoff;
use iceoryx2::prelude::*;

use super::isolated;
use crate::gate::{reap, Gate};
use crate::raw::ring::CAP;

/// What the column runs.
pub const WHAT: &str = "iceoryx2 0.10 publish_subscribe::<[u64; 2]>, subscriber buffer 1024, \
     publisher retries when full; send_copy / receive (polling: no blocking receive)";

type Msg = [u64; 2];

/// The domain of this measurement: iceoryx2's defaults with a file prefix of its own.
fn domain(owner: u32) -> Result<Config> {
    let mut config = Config::default();
    config.global.prefix =
        FileName::new(prefix(owner).as_bytes()).map_err(|e| anyhow!("iceoryx2 prefix: {e:?}"))?;
    Ok(config)
}

fn prefix(owner: u32) -> String {
    format!("iox2_bench_{owner}_")
}

fn new_node(config: &Config) -> Result<Node<ipc::Service>> {
    // Without a config file iceoryx2 warns that it uses its defaults, which is what we want.
    set_log_level(LogLevel::Error);
    NodeBuilder::new()
        .config(config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(|e| anyhow!("iceoryx2 node: {e:?}"))
}

fn service(
    node: &Node<ipc::Service>,
    name: &str,
) -> Result<iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, Msg, ()>>
{
    let name: ServiceName = name
        .try_into()
        .map_err(|e| anyhow!("iceoryx2 service name: {e:?}"))?;
    node.service_builder(&name)
        .publish_subscribe::<Msg>()
        .subscriber_max_buffer_size(CAP)
        .history_size(0)
        .enable_safe_overflow(false)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(|e| anyhow!("iceoryx2 service: {e:?}"))
}

/// Millions of 16-byte messages `(2, i)` per second from a child publisher to the subscriber.
pub fn one_one(n: usize) -> Result<f64> {
    let owner = std::process::id();
    let value = isolated("iceoryx2-1p1c", || {
        let config = domain(owner)?;
        let name = "bench/queue/1p1c";
        let node = new_node(&config)?;
        let svc = service(&node, name)?;
        let subscriber = svc
            .subscriber_builder()
            .create()
            .map_err(|e| anyhow!("iceoryx2 subscriber: {e:?}"))?;
        let gate = Gate::new()?;
        let ready = Gate::new()?;
        let child = common::spawn("iceoryx2-publisher", || {
            let node = new_node(&config)?;
            let svc = service(&node, name)?;
            let publisher = svc
                .publisher_builder()
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .map_err(|e| anyhow!("iceoryx2 publisher: {e:?}"))?;
            ready.open()?;
            gate.wait()?;
            for i in 0..n as u64 {
                publisher
                    .send_copy([2, i])
                    .map_err(|e| anyhow!("iceoryx2 send_copy: {e:?}"))?;
            }
            Ok(())
        })?;
        // Connect to the publisher before it sends: a subscriber connects when it next looks
        // (`receive`, `has_samples`), and until then a publisher whose queue to it is full
        // drops samples instead of waiting (it counts the subscriber as not connected yet).
        ready.wait()?;
        subscriber
            .has_samples()
            .map_err(|e| anyhow!("iceoryx2 connect: {e:?}"))?;
        let t = Instant::now();
        gate.open()?;
        let mut backoff = Backoff::new();
        let mut i = 0u64;
        while i < n as u64 {
            match subscriber
                .receive()
                .map_err(|e| anyhow!("iceoryx2 receive: {e:?}"))?
            {
                Some(sample) => {
                    let [a, b] = *sample;
                    ensure!(a == 2 && b == i, "message {i}: got ({a}, {b})");
                    i += 1;
                    backoff.reset();
                }
                None => {
                    if !backoff.snooze() {
                        std::thread::yield_now();
                    }
                }
            }
        }
        let dt = t.elapsed().as_secs_f64();
        reap(child)?;
        Ok(n as f64 / dt / 1e6)
    });
    // Also after a failure: a killed publisher leaves its segments behind too.
    remove_domain(owner)?;
    value
}

/// Remove whatever of this bench's domain is left in `/dev/shm`: the `global_mgmt` segment,
/// and after a failure the segments of a node that was killed.
fn remove_domain(owner: u32) -> Result<()> {
    let prefix = prefix(owner);
    for entry in std::fs::read_dir("/dev/shm").context("read_dir /dev/shm")? {
        let entry = entry.context("read_dir /dev/shm")?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}
