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

/// Declare a struct that lives in memory shared between processes; see the [module
/// doc](crate::shared).
#[macro_export]
macro_rules! shared_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug)]
        $vis struct $name {
            $( $(#[$field_meta])* $field_vis $field : $ty ),*
        }

        // Every field must be sound to share; a field that is not fails to compile here.
        const _: () = {
            const fn field_is_shareable<T: $crate::sys::ShmSafe>() {}
            $( field_is_shareable::<$ty>(); )*
        };

        // SAFETY: a `repr(C)` struct whose fields are all `ShmSafe` (checked just above) is
        // valid when zeroed, `Sync`, and holds no pointer into process-private memory.
        unsafe impl $crate::sys::ShmSafe for $name {}
    };
}

#[cfg(test)]
// Inside `common` the macro is not foreign, so its `unsafe impl` meets the workspace's
// `unsafe_code = deny`; in every other member it expands from `common` and is allowed.
#[allow(unsafe_code)]
mod tests {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    crate::shared_struct! {
        /// A worker's slot, as the pool declares one.
        struct WorkerSlot {
            running_task: AtomicU64,
            done: crate::sync::Event,
            flags: [AtomicU32; 4],
        }
    }

    crate::shared_struct! {
        struct Nested {
            slot: WorkerSlot,
            lock: crate::sync::Lock,
        }
    }

    #[test]
    fn a_shared_struct_maps_zeroed_and_reads_by_name() {
        let nested = crate::Shared::<Nested>::new_zeroed().unwrap();
        assert_eq!(nested.slot.running_task.load(Ordering::SeqCst), 0);
        nested.slot.running_task.store(7, Ordering::SeqCst);
        nested.slot.flags[2].store(1, Ordering::SeqCst);
        assert_eq!(nested.slot.running_task.load(Ordering::SeqCst), 7);
        assert!(nested.lock.try_acquire().is_some());
    }
}
