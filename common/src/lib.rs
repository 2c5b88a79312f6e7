//! `common`: what every demo of the workspace repeats, and nothing else.
//!
//! | module | what |
//! |---|---|
//! | [`cli`] | the shared flags (`--time-scale`, `--seed`, `--json`), `main -> run -> ExitCode`, one-line usage errors (exit 2) |
//! | [`clock`] | the time-scaled sleep standing in for the notes' `time.sleep` |
//! | [`rng`] | one seed per run, one generator per process |
//! | [`out`] | prose or JSON Lines events, the final `summary` line, quiet end on a closed stdout |
//! | [`child`] | the one place that forks: `spawn`, `join`, `join_timeout`, `terminate`, exit codes as Rust and Python report them |
//! | [`backoff`] | spin a little, yield a little, then sleep in the kernel: every waiter's first steps |
//! | [`sync`] | process-shared `Lock`, `Condvar`, `Barrier`, and `Event` (the wake-up that cannot be missed), on a futex |
//! | [`shared`] | `shared_struct!`: shared memory as named `#[repr(C)]` structs, with no `unsafe` in the members |
//! | [`trace`] | `--trace FILE`: Chrome Trace Event Format for Perfetto, written by every process of a demo |
//! | [`words`] | copying bytes into and out of shared atomic words |
//! | [`procfs`] | what `/proc` says about a process |
//! | [`sys`] | the only `unsafe` code: fork, `_exit`, pidfd, futex, `MAP_SHARED`, signal handlers |
//!
//! The mechanisms the notes teach (pipes, queues, pools...) live in their own members.

pub mod backoff;
pub mod child;
pub mod cli;
pub mod clock;
pub mod out;
pub mod procfs;
pub mod rng;
pub mod shared;
pub mod sync;
#[allow(unsafe_code)]
pub mod sys;
pub mod trace;
pub mod words;

pub use child::{spawn, Child, ExitStatus};
pub use clock::{secs, sleep};
pub use sys::{SharedBox, SharedSlice, ShmSafe};

/// One shared struct, mapped before fork (the name members use; `SharedBox` is the same type).
pub type Shared<T> = SharedBox<T>;

/// Re-exported so members write `common::json!` without their own serde_json import.
pub use serde_json::json;
