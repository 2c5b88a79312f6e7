//! The raw loops: the least code that moves the same thing over the same kernel primitive, with
//! no framing, no serialisation, no checks beyond counting. They say what the primitive itself
//! costs here, so `ours/raw` says what the workspace's mechanism adds on top of it.
//!
//! | file | primitive | figures |
//! |---|---|---|
//! | [`stream`] | pipe(2), socketpair(2): write/read of fixed-size messages | pipe ping-pong, small messages, 64 KiB |
//! | [`spin`] | a word in `MAP_SHARED` memory, a bounded spin, then futex | pool apply (the floor of a round trip between processes) |
//! | [`ring`] | a single-producer single-consumer ring in `MAP_SHARED` memory, spin then futex | queue 1P1C |
//! | [`farm`] | socketpairs to two worker processes, fixed-size task messages | pool apply_async, map |
//! | [`counter`] | glibc's process-shared `pthread_mutex_t`; one `lock xadd` | locked and atomic counters |
//! | [`ipc`] | kill + sigwait, named semaphores, socketpair, TCP loopback | the ipc round trips |
//! | [`create`] | fork + waitpid (`common::spawn` + `join`); `std::thread::spawn` + `join` | creation costs |
//!
//! prodcons' raw column is crossbeam-channel's bounded channel (see [`crate::ours::prodcons`]).

pub mod counter;
pub mod create;
pub mod farm;
pub mod ipc;
pub mod ring;
pub mod spin;
pub mod stream;
