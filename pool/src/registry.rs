//! Task functions are registered *before* the pool starts: the notes' point 6, in fork terms.
//!
//! The notes say the function a pool runs "通常放在 pool=Pool() 的上面" (usually goes above
//! `pool = Pool()`). The reason is fork. `Pool()` forks the workers there and then; each worker
//! is a copy of the parent *as it was at that instant*, and it never sees anything the parent
//! creates afterwards. Python does not send the function itself to a worker: it pickles a
//! *reference by name* (`__main__.f`), and the worker looks that name up in its own copy of the
//! module. A function defined below `Pool()` does not exist in the worker's copy, and the lookup
//! fails (`AttributeError: Can't get attribute 'f' on <module '__main__'>`).
//!
//! This pool makes the rule a type: tasks are registered in a [`Tasks`] list, which
//! [`crate::Pool::new`] takes by value before it forks. Registering returns a [`Task`] handle,
//! the equivalent of the pickled name: an index into the list, which the worker looks up in its
//! own copy of it. A closure may capture anything that exists at that moment (numbers, shared
//! memory...): the worker gets a copy of it with the rest of the parent's memory. Once the pool
//! exists, the list is gone from your hands, so nothing can be added that the workers lack.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::Value;

/// The type-erased form of a task: decode `count` arguments from the payload, call the
/// function on each, append each encoded result to `out`. An `Err` is the task's own error
/// (Python: the function raised), sent back as the result; a panic kills the worker.
pub(crate) type Runner = Box<dyn Fn(&[u8], u32, &mut Vec<u8>) -> Result<(), String>>;

/// The list of functions a pool's workers can run. Build it, then give it to `Pool::new`.
pub struct Tasks {
    id: u64,
    pub(crate) names: Vec<String>,
    pub(crate) runners: Vec<Runner>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("names", &self.names).finish()
    }
}

/// A registered function taking `A` and returning `R`: what `apply`, `map` and `submit` are
/// given. Cheap to copy; only meaningful for the pool built from the same [`Tasks`].
pub struct Task<A, R> {
    pub(crate) registry: u64,
    pub(crate) index: u32,
    _types: PhantomData<fn(A) -> R>,
}

impl<A, R> Clone for Task<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A, R> Copy for Task<A, R> {}

impl<A, R> std::fmt::Debug for Task<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Task#{}", self.index)
    }
}

/// A task's error while running a chunk: its own (`Err` from the function) or a bad argument.
struct Failure(String);

impl From<crate::codec::DecodeError> for Failure {
    fn from(e: crate::codec::DecodeError) -> Self {
        Failure(format!("argument: {e}"))
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure(e)
    }
}

static NEXT_REGISTRY: AtomicU64 = AtomicU64::new(1);

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

impl Tasks {
    /// An empty list.
    pub fn new() -> Tasks {
        Tasks {
            id: NEXT_REGISTRY.fetch_add(1, Ordering::Relaxed),
            names: Vec::new(),
            runners: Vec::new(),
        }
    }

    /// Register `f`; a panic inside it kills the worker (the pool reports it and replaces the
    /// worker). For a task that can fail politely, use [`Tasks::register_fallible`].
    pub fn register<A, R, F>(&mut self, name: &str, f: F) -> Task<A, R>
    where
        A: Value + 'static,
        R: Value + 'static,
        F: Fn(A) -> R + 'static,
    {
        self.register_fallible(name, move |a| Ok(f(a)))
    }

    /// Register a function that may return an error: Python's task raising an exception. The
    /// error travels back as the task's result (`get` returns it, the error callback gets it),
    /// and the worker lives on.
    pub fn register_fallible<A, R, F>(&mut self, name: &str, f: F) -> Task<A, R>
    where
        A: Value + 'static,
        R: Value + 'static,
        F: Fn(A) -> Result<R, String> + 'static,
    {
        // Monomorphised here, so the per-item loop of a `map` chunk calls `f` directly.
        let runner: Runner = Box::new(move |mut input: &[u8], count: u32, out: &mut Vec<u8>| {
            // Results are usually about as big as arguments: one allocation instead of doubling.
            out.reserve(input.len());
            A::for_each(&mut input, count as usize, |a| {
                f(a)?.encode(out);
                Ok::<(), Failure>(())
            })
            .map_err(|e| e.0)
        });
        self.names.push(name.to_string());
        self.runners.push(runner);
        Task {
            registry: self.id,
            index: (self.runners.len() - 1) as u32,
            _types: PhantomData,
        }
    }

    /// The name a handle was registered under, if it belongs to this list.
    pub fn name_of<A, R>(&self, t: &Task<A, R>) -> Option<&str> {
        (t.registry == self.id)
            .then(|| self.names.get(t.index as usize).map(String::as_str))
            .flatten()
    }

    /// The name function `index` was registered under ("" if none).
    pub fn name(&self, index: u32) -> &str {
        self.names.get(index as usize).map_or("", String::as_str)
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Run function `index` on a payload (in the worker).
    pub(crate) fn run(
        &self,
        index: u32,
        payload: &[u8],
        count: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        match self.runners.get(index as usize) {
            Some(r) => r(payload, count, out),
            None => Err(format!("no task number {index} in this worker")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::to_bytes;

    #[test]
    fn runner_maps_every_item_of_a_chunk() {
        let mut t = Tasks::new();
        let sq = t.register("square", |x: u64| x * x);
        let mut payload = Vec::new();
        for x in [2u64, 3, 4] {
            payload.extend(to_bytes(&x));
        }
        let mut out = Vec::new();
        t.run(sq.index, &payload, 3, &mut out).unwrap();
        let mut expect = Vec::new();
        for x in [4u64, 9, 16] {
            expect.extend(to_bytes(&x));
        }
        assert_eq!(out, expect);
        assert_eq!(t.name_of(&sq), Some("square"));
    }

    #[test]
    fn a_handle_from_another_list_is_not_found() {
        let mut a = Tasks::new();
        let b = Tasks::new();
        let h = a.register("id", |x: u64| x);
        assert_eq!(b.name_of(&h), None);
    }

    #[test]
    fn fallible_error_and_bad_argument_are_errors() {
        let mut t = Tasks::new();
        let f = t.register_fallible("odd", |x: u64| {
            if x % 2 == 1 {
                Ok(x)
            } else {
                Err(format!("{x} is even"))
            }
        });
        let mut out = Vec::new();
        assert_eq!(
            t.run(f.index, &to_bytes(&4u64), 1, &mut out),
            Err("4 is even".into())
        );
        assert!(t.run(f.index, &[1, 2], 1, &mut out).is_err());
        assert!(t.run(99, &[], 0, &mut out).is_err());
    }
}
