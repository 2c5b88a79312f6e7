//! Shared memory a student can read: named `#[repr(C)]` structs, declared without `unsafe`.
//!
//! A region that several processes map (a queue's header, a worker's slot, the balance of the
//! boy/girl demo) is declared once as a struct whose fields say what each word is for, and read
//! as `header.closed` or `worker.running_task`, never as `ctl.1[0]`:
//!
//! ```
//! use std::sync::atomic::{AtomicU32, AtomicI64};
//! common::shared_struct! {
//!     /// The balance the boy and the girl both change.
//!     pub struct Account {
//!         /// Python's `money.value`.
//!         pub balance: AtomicI64,
//!         /// Python's `money.get_lock()`.
//!         pub lock: common::sync::Lock,
//!         pub changes: [AtomicU32; 2],
//!     }
//! }
//! let account = common::Shared::<Account>::new_zeroed().unwrap(); // map it before forking
//! account.balance.fetch_add(5000, std::sync::atomic::Ordering::SeqCst);
//! ```
//!
//! What the macro checks and emits: it asserts at compile time that *every* field's type is
//! [`ShmSafe`](crate::sys::ShmSafe) (an atomic, a futex `Lock`/`Condvar`/`Barrier`/`Event`, an
//! array of those, or another shared struct), adds `#[repr(C)]` (a fixed layout, the same in
//! every process) and `Debug`, and writes the one `unsafe impl ShmSafe` for the struct, which is
//! sound because a `repr(C)` struct of zero-valid, `Sync`, pointer-free fields is all three
//! itself. A field of another type (a `Vec`, a `String`, a plain `u32`) does not compile: a
//! `Vec` would point at a different heap in every process, and a plain integer written by two
//! processes at once is a data race.
//!
//! The mapping itself is [`Shared`](crate::Shared) (one struct) or
//! [`SharedSlice`](crate::SharedSlice) (an array sized at run time), a memfd mapped `MAP_SHARED`
//! with memmap2 (see [`crate::sys`]).
//!
//! The macro itself lives in [`crate::sys`] (`sys/shared_struct.rs`), the one module allowed
//! `unsafe`, because the `unsafe impl` it writes is the one promise the compiler cannot check
//! for itself.
