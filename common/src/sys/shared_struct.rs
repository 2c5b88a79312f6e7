//! `shared_struct!`: the `unsafe impl ShmSafe` a shared struct needs, written once, here, after
//! a compile-time check of every field (see [`crate::shared`] for how members use it).

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
