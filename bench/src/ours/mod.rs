//! The "ours" column: each figure run on the workspace member that teaches the mechanism, through
//! its public API, doing the same work as the Python peer and the raw loop.
//!
//! A member that has not landed has `None` here and a note saying so; the table then shows a dash
//! rather than a number from somewhere else.

pub mod counter;
pub mod create;
pub mod ipc;
pub mod pipe;
pub mod pool;
pub mod pool_start;
pub mod prodcons;
pub mod queue;
