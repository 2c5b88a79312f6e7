//! The list of figures: what each row runs in its three columns, its sizes and its target.
//!
//! Order matters twice:
//! - `create.process` comes first, while this process is small. fork copies the parent's page
//!   tables, so its cost grows with the parent's memory; after the 1 M-item figures the
//!   allocator keeps tens of megabytes mapped and a fork costs several times more (measured:
//!   ~0.4 ms first, ~2 ms at the end). The Python peer forks from a fresh interpreter too.
//! - every figure that starts threads (`create.thread`, `prodcons`) comes after every figure
//!   that forks. A joined thread may still be counted in `/proc/self/stat` for a moment after
//!   `join` returns (the kernel wakes the joiner before it removes the thread), and
//!   `common::spawn` refuses to fork a process it sees with two threads.

use crate::figure::{Better, Figure, Target};
use crate::{ours, raw};

/// Every figure, in the order they run and print.
pub fn all() -> Vec<Figure> {
    vec![
        Figure {
            id: "create.process",
            unit: "us/process",
            better: Better::Lower,
            ours: ours::create::PROCESS,
            ours_what: ours::create::PROCESS_WHAT,
            raw: Some(raw::create::fork_reap),
            raw_what: "common::spawn (fork) of an empty closure + join (waitpid)",
            python: Some(("peer_spawn.py", "process")),
            size: 1_000,
            quick: 100,
            python_size: 100,
            target: Target::None,
        },
        Figure {
            id: "pool.start",
            unit: "ms/pool",
            better: Better::Lower,
            ours: ours::pool_start::START,
            ours_what: ours::pool_start::WHAT,
            raw: Some(raw::create::two_workers),
            raw_what: "common::spawn of 2 children that each read one byte, write it, reap both",
            python: Some(("peer_pool.py", "start")),
            size: 100,
            quick: 10,
            python_size: 20,
            target: Target::None,
        },
        Figure {
            id: "pool.apply",
            unit: "us/call",
            better: Better::Lower,
            ours: ours::pool::APPLY,
            ours_what: ours::pool::WHAT,
            raw: Some(raw::spin::pingpong),
            raw_what: "request/reply counters in MAP_SHARED memory, spin <=50 us then futex",
            python: Some(("peer_pool.py", "apply")),
            size: 20_000,
            quick: 2_000,
            python_size: 2_000,
            target: Target::TimesPython(20.0),
        },
        Figure {
            id: "pool.apply_async",
            unit: "k tasks/s",
            better: Better::Higher,
            ours: ours::pool::APPLY_ASYNC,
            ours_what: ours::pool::WHAT,
            raw: Some(|n| Ok(raw::farm::items_per_sec(n, 1)? / 1e3)),
            raw_what: "2 worker processes on socketpairs, one 8-byte task message each way",
            python: Some(("peer_pool.py", "apply_async")),
            size: 200_000,
            quick: 20_000,
            python_size: 20_000,
            target: Target::TimesPython(20.0),
        },
        Figure {
            id: "pool.map",
            unit: "M items/s",
            better: Better::Higher,
            ours: ours::pool::MAP_DEFAULT,
            ours_what: ours::pool::WHAT,
            raw: Some(|n| Ok(raw::farm::items_per_sec(n, n.div_ceil(8))? / 1e6)),
            raw_what: "2 worker processes on socketpairs, 8 chunks of n/8 u64 items",
            python: Some(("peer_pool.py", "map_default")),
            size: 1_000_000,
            quick: 100_000,
            python_size: 1_000_000,
            target: Target::TimesPython(20.0),
        },
        Figure {
            id: "pool.map.chunk1",
            unit: "k items/s",
            better: Better::Higher,
            ours: ours::pool::MAP_CHUNK1,
            ours_what: ours::pool::WHAT,
            raw: Some(|n| Ok(raw::farm::items_per_sec(n, 1)? / 1e3)),
            raw_what: "2 worker processes on socketpairs, one 8-byte item message each way",
            python: Some(("peer_pool.py", "map_chunk1")),
            size: 200_000,
            quick: 20_000,
            python_size: 20_000,
            target: Target::TimesPython(20.0),
        },
        // The same `map` as `pool.map`, measured again beside rayon, the in-process floor (its
        // own row, so `pool.map` keeps a process pool, procspawn, as its Rust peer).
        Figure {
            id: "pool.map.rayon",
            unit: "M items/s",
            better: Better::Higher,
            ours: ours::pool::MAP_DEFAULT,
            ours_what: ours::pool::WHAT,
            raw: None,
            raw_what: "-",
            python: None,
            size: 1_000_000,
            quick: 100_000,
            python_size: 1_000_000,
            target: Target::None,
        },
        Figure {
            id: "pipe.pingpong",
            unit: "us/round trip",
            better: Better::Lower,
            ours: ours::pipe::PINGPONG,
            ours_what: ours::pipe::WHAT,
            raw: Some(raw::stream::pingpong),
            raw_what: "socketpair, write 16 bytes / read 16 bytes each way",
            python: Some(("peer_pipe.py", "pingpong")),
            size: 20_000,
            quick: 2_000,
            python_size: 5_000,
            target: Target::OfRaw(1.0 / 1.1),
        },
        Figure {
            id: "pipe.small",
            unit: "M msgs/s",
            better: Better::Higher,
            ours: ours::pipe::SMALL_MSGS,
            ours_what: ours::pipe::WHAT,
            raw: Some(raw::stream::small),
            raw_what: "pipe(2), one 16-byte write per message, reader reads 64 KiB at a time",
            python: Some(("peer_pipe.py", "small")),
            size: 1_000_000,
            quick: 100_000,
            python_size: 100_000,
            target: Target::TimesPython(10.0),
        },
        Figure {
            id: "pipe.small.obj",
            unit: "M msgs/s",
            better: Better::Higher,
            ours: ours::pipe::SMALL_OBJS,
            ours_what: ours::pipe::OBJ_WHAT,
            raw: Some(raw::stream::small),
            raw_what: "pipe(2), one 16-byte write per message, reader reads 64 KiB at a time",
            python: Some(("peer_pipe.py", "small_obj")),
            size: 1_000_000,
            quick: 100_000,
            python_size: 100_000,
            target: Target::None,
        },
        Figure {
            id: "pipe.64k",
            unit: "GB/s",
            better: Better::Higher,
            ours: ours::pipe::BIG_MSGS,
            ours_what: ours::pipe::WHAT,
            raw: Some(raw::stream::big),
            raw_what: "socketpair, 64 KiB writes, 64 KiB reads",
            python: Some(("peer_pipe.py", "big")),
            size: 16_384,
            quick: 1_024,
            python_size: 16_384,
            target: Target::OfRaw(1.0),
        },
        Figure {
            id: "queue.1p1c",
            unit: "M msgs/s",
            better: Better::Higher,
            ours: ours::queue::ONE_ONE,
            ours_what: ours::queue::WHAT,
            raw: ours::queue::RAW,
            raw_what: ours::queue::RAW_WHAT,
            python: Some(("peer_queue.py", "one_one")),
            size: 1_000_000,
            quick: 100_000,
            python_size: 100_000,
            target: Target::TimesPython(20.0),
        },
        Figure {
            id: "counter.locked",
            unit: "M incr/s",
            better: Better::Higher,
            ours: ours::counter::LOCKED,
            ours_what: ours::counter::LOCKED_WHAT,
            raw: Some(raw::counter::pthread_mutex),
            raw_what: "glibc pthread_mutex_t (PTHREAD_PROCESS_SHARED) around load+store",
            python: Some(("peer_counters.py", "locked")),
            size: 2_000_000,
            quick: 200_000,
            python_size: 100_000,
            target: Target::OfRaw(0.9),
        },
        Figure {
            id: "counter.atomic",
            unit: "M incr/s",
            better: Better::Higher,
            ours: ours::counter::ATOMIC,
            ours_what: ours::counter::ATOMIC_WHAT,
            raw: Some(raw::counter::atomic),
            raw_what: "AtomicU64::fetch_add (lock xadd) in MAP_SHARED memory",
            // Python has no atomic shared integer: its exact counter is the locked Value.
            python: Some(("peer_counters.py", "locked")),
            size: 10_000_000,
            quick: 1_000_000,
            python_size: 100_000,
            target: Target::OfRaw(0.9),
        },
        // From here on, threads: no figure below may fork (see the module doc).
        Figure {
            id: "create.thread",
            unit: "us/thread",
            better: Better::Lower,
            ours: ours::create::THREAD,
            ours_what: ours::create::THREAD_WHAT,
            raw: Some(raw::create::thread_join),
            raw_what: "std::thread::spawn of an empty closure + join",
            python: Some(("peer_spawn.py", "thread")),
            size: 10_000,
            quick: 1_000,
            python_size: 3_000,
            target: Target::None,
        },
        Figure {
            id: "prodcons.threads",
            unit: "M items/s",
            better: Better::Higher,
            ours: ours::prodcons::THREADS,
            ours_what: ours::prodcons::WHAT,
            raw: Some(ours::prodcons::crossbeam),
            raw_what: ours::prodcons::RAW_WHAT,
            python: Some(("peer_prodcons.py", "threads")),
            size: 1_000_000,
            quick: 100_000,
            python_size: 100_000,
            target: Target::OfRaw(0.5),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sizes_sane() {
        let figs = all();
        let mut ids: Vec<_> = figs.iter().map(|f| f.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), figs.len());
        for f in &figs {
            assert!(f.quick >= 10 && f.quick <= f.size, "{}", f.id);
            assert!(f.python_size >= 10, "{}", f.id);
        }
    }

    #[test]
    fn process_creation_comes_first_and_threads_last() {
        let figs = all();
        assert_eq!(figs[0].id, "create.process");
        let first_thread = figs.iter().position(|f| f.id == "create.thread").unwrap();
        assert!(figs[first_thread..]
            .iter()
            .all(|f| f.id == "create.thread" || f.id.starts_with("prodcons.")));
    }
}
