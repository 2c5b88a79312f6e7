//! pool (being written)
pub mod codec;
pub mod doorbell;
pub mod error;
pub mod frame;
pub mod pool;
pub mod registry;
pub mod result;
pub mod ring;
pub mod timeline;
pub mod worker;

pub use codec::{Bytes, Json, Value};
pub use error::TaskError;
pub use pool::{cpu_count, default_chunksize, Options, Pool, Stats, MAX_WORKERS};
pub use registry::{Task, Tasks};
pub use result::{as_completed, AsyncResult, Future};
