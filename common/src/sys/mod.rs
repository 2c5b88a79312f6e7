//! The one module of the workspace allowed to write `unsafe` (with its part [`ipc`], for the
//! `ipc` member's signals, semaphores and descriptor passing).
//!
//! Everything the demos need from the kernel that Rust's std does not wrap safely lives here, each
//! piece as small as it can be, each `unsafe` block with the reason it is sound. The rest of the
//! workspace has `unsafe_code = "deny"` (see the root `Cargo.toml`) and builds on these safe
//! functions:
//!
//! | function | syscall | why it needs `unsafe` |
//! |---|---|---|
//! | [`fork`] | fork(2) | the child of a multi-threaded process inherits locks nobody will release; we check for one thread |
//! | [`exit_now`] | _exit(2) | skips destructors and atexit handlers on purpose |
//! | [`pidfd_open`] | pidfd_open(2) | no std/nix wrapper yet: raw `syscall` |
//! | [`futex_wait`], [`futex_wake`] | futex(2) | raw `syscall` on a word that may be shared |
//! | [`SharedBox`], [`SharedSlice`] | mmap(2) `MAP_SHARED` | turning a mapping into `&T` |
//! | [`install_stop_handlers`] | sigaction(2) | a handler runs at any instruction |
//! | `stop_children_and_exit` | kill, waitpid, open/read `/proc`, write, _exit | called from that handler: raw, async-signal-safe calls only |
//! | [`PthreadMutex`] | pthread_mutex_* (`PTHREAD_PROCESS_SHARED`) | C calls on a mutex in shared memory; only the benchmarks' "raw" yardstick |
//!
//! Alternatives not taken: `libc::pthread_mutex_t` with `PTHREAD_PROCESS_SHARED` would also give
//! a process-shared lock, but every call on it is `unsafe` and the lesson (a word in shared memory
//! plus a kernel wait queue keyed by its address) is clearer with the futex itself.

pub mod ipc;
mod shared_struct;

use std::io;
use std::mem::{align_of, size_of};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// fork and _exit
// ---------------------------------------------------------------------------------------------

/// Which side of a fork we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// We are the parent; this is the child's pid.
    Parent(i32),
    /// We are the new child.
    Child,
}

/// fork(2), but only from a single-threaded process; otherwise an error and no fork.
///
/// After fork only the calling thread exists in the child. Had the parent other threads, any lock
/// they held at that instant (stdout's, a `Mutex` of the program, an allocator's) would stay
/// locked forever in the child, and the child's first `println!` could hang. Checking the thread
/// count first (`procfs::other_live_threads`: threads already exiting do not count, they hold no
/// lock) is what makes this function safe to call.
pub fn fork() -> io::Result<Forked> {
    let others =
        crate::procfs::other_live_threads().map_err(|e| io::Error::other(format!("{e:#}")))?;
    if others > 0 {
        return Err(io::Error::other(format!(
            "refusing to fork from a process with {} threads: only the forking thread would \
             exist in the child, with any lock another thread held locked forever",
            others + 1
        )));
    }
    // SAFETY: the process has a single thread (checked just above; only this thread could start
    // another, and it is here), so the child inherits no lock held by a vanished thread.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// _exit(2): end this process now, without running destructors, atexit handlers or flushing
/// stdio. A forked child must leave this way: unwinding or returning from `main` would run the
/// parent's cleanup code (drop a `Child` handle and kill a sibling, unlink a name the parent still
/// uses, flush a copy of the parent's buffered output twice).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}

/// pidfd_open(2): a file descriptor that refers to process `pid` and becomes readable (poll
/// POLLIN) when it exits. It lets a parent wait for one child *with a timeout* while blocking in
/// the kernel; waitpid alone can only block forever or not at all.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall taking two integers; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

// ---------------------------------------------------------------------------------------------
// futex: the kernel wait queue behind every blocking lock in this workspace
// ---------------------------------------------------------------------------------------------

/// futex(FUTEX_WAIT): sleep in the kernel while `word` still holds `expected`, for at most
/// `timeout`. Returns `false` if the timeout ran out, `true` otherwise (woken, value already
/// different, or a signal: callers re-check their condition in every case).
///
/// No `FUTEX_PRIVATE_FLAG`: the kernel then keys the wait queue by the *physical* page, so a
/// process that waits on a word in a `MAP_SHARED` mapping is woken by another process's
/// [`futex_wake`] on the same word, whatever address each has it mapped at.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call (it is borrowed), and
    // `ts_ptr` is null or points at a timespec that outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    !(r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT))
}

/// futex(FUTEX_WAKE): wake up to `n` waiters blocked on `word`. Returns how many were woken.
pub fn futex_wake(word: &AtomicU32, n: i32) -> usize {
    // SAFETY: `word` is a valid aligned u32; FUTEX_WAKE only uses its address as a key.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    r.max(0) as usize
}

// ---------------------------------------------------------------------------------------------
// MAP_SHARED memory
// ---------------------------------------------------------------------------------------------

/// Types that may live in memory shared by several processes.
///
/// # Safety
/// An implementor must be valid when all its bytes are zero (a fresh mapping is zero-filled),
/// must be safe to use from several threads at once (`Sync`: processes sharing a page race like
/// threads), and must hold no pointer into process-private memory (a `Box` or `Vec` would point at
/// a *different* copy in every process after fork). Its `Drop` is never run.
pub unsafe trait ShmSafe: Sync {}

// SAFETY: atomics are valid at zero, Sync, and hold no pointers (so for all impls below).
unsafe impl ShmSafe for AtomicBool {}
// SAFETY: as above.
unsafe impl ShmSafe for AtomicU8 {}
// SAFETY: as above.
unsafe impl ShmSafe for AtomicU32 {}
// SAFETY: as above.
unsafe impl ShmSafe for AtomicI32 {}
// SAFETY: as above.
unsafe impl ShmSafe for AtomicU64 {}
// SAFETY: as above.
unsafe impl ShmSafe for AtomicI64 {}
// SAFETY: as above.
unsafe impl ShmSafe for AtomicUsize {}
// SAFETY: an array of zero-valid, Sync, pointer-free elements is all three itself.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}
// No impl for tuples: shared memory is read through named fields (`shared_struct!`), never
// through positions (`s.1[0]`).

// SAFETY: Lock, Condvar and Barrier are `repr(C)` structs of atomics: zero is their initial
// state (unlocked, no waiters, generation 0), they are Sync, and they hold no pointers.
unsafe impl ShmSafe for crate::sync::Lock {}
// SAFETY: as above.
unsafe impl ShmSafe for crate::sync::Condvar {}
// SAFETY: as above (a zero party count must be set with `init` before use).
unsafe impl ShmSafe for crate::sync::Barrier {}
// SAFETY: `repr(C)` structs of atomics, zero = nobody asleep, Sync, no pointers.
unsafe impl ShmSafe for crate::sync::Event {}
// SAFETY: as above.
unsafe impl ShmSafe for crate::sync::SleeperFlag {}

/// A `MAP_SHARED` mapping of a fresh memfd: the same physical pages in the creator and in every
/// child forked after it, so a store in one process is seen by a load in another.
///
/// How: `memfd_create(2)` makes an anonymous in-memory file (no name in any directory, so nothing
/// can be left behind), `ftruncate` sizes it (zero-filled), and memmap2 maps it with
/// `MAP_SHARED`. The fd is closed at once: the mapping keeps the pages alive, and they are freed
/// when the last process unmaps them (or exits).
///
/// Why not `memmap2::MmapMut::map_anon`: that is `MAP_PRIVATE`, copy-on-write after fork, so each
/// child would silently write to its own copy (exactly Python's plain global variable).
struct Mapping {
    map: memmap2::MmapMut,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        let len = len.max(1);
        let fd = nix::sys::memfd::memfd_create(
            c"common-shared",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
        )
        .map_err(|e| io::Error::other(format!("memfd_create: {e}")))?;
        let file = std::fs::File::from(fd);
        file.set_len(len as u64)
            .map_err(|e| io::Error::new(e.kind(), format!("ftruncate(memfd): {e}")))?;
        // SAFETY: memmap2 calls this unsafe because another process could truncate or change the
        // file under the mapping. This file has no name and its only fd is closed right after
        // mapping, so nobody can truncate it; concurrent *changes* to the bytes are the point,
        // and are only ever reached through `T: ShmSafe` (atomics and structs of them).
        let map = unsafe { memmap2::MmapMut::map_mut(&file) }
            .map_err(|e| io::Error::new(e.kind(), format!("mmap(MAP_SHARED): {e}")))?;
        Ok(Mapping { map })
    }

    fn ptr(&self) -> *const u8 {
        self.map.as_ptr()
    }
}

/// One `T` in shared memory, zero-initialised. Create it *before* forking: children inherit the
/// mapping at the same address. Each process unmaps its view when it drops the box; the pages
/// are freed when the last process has done so (or exited).
pub struct SharedBox<T: ShmSafe> {
    map: Mapping,
    _t: std::marker::PhantomData<T>,
}

impl<T: ShmSafe> SharedBox<T> {
    /// Map a zeroed `T` (`MAP_SHARED | MAP_ANONYMOUS`).
    pub fn new_zeroed() -> io::Result<Self> {
        assert!(
            align_of::<T>() <= 4096,
            "page alignment is the most mmap gives"
        );
        Ok(SharedBox {
            map: Mapping::new(size_of::<T>())?,
            _t: std::marker::PhantomData,
        })
    }
}

impl<T: ShmSafe> std::ops::Deref for SharedBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the mapping is page-aligned (so aligned for T), at least size_of::<T>() long,
        // zero-filled by the kernel, and `T: ShmSafe` promises all-zero is a valid T. It lives as
        // long as `self`, and T is Sync, so shared references from several processes are fine.
        unsafe { &*self.map.ptr().cast::<T>() }
    }
}

/// `len` zeroed `T`s in shared memory (a shared array sized at run time).
pub struct SharedSlice<T: ShmSafe> {
    map: Mapping,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: ShmSafe> SharedSlice<T> {
    /// Map `len` zeroed elements.
    pub fn new_zeroed(len: usize) -> io::Result<Self> {
        assert!(
            align_of::<T>() <= 4096,
            "page alignment is the most mmap gives"
        );
        let bytes = size_of::<T>()
            .checked_mul(len)
            .ok_or_else(|| io::Error::other("shared slice too large"))?;
        Ok(SharedSlice {
            map: Mapping::new(bytes)?,
            len,
            _t: std::marker::PhantomData,
        })
    }
}

impl<T: ShmSafe> std::ops::Deref for SharedSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: as for SharedBox: aligned, long enough for `len` elements, zero-valid, Sync.
        unsafe { std::slice::from_raw_parts(self.map.ptr().cast::<T>(), self.len) }
    }
}

// ---------------------------------------------------------------------------------------------
// Signals: stop every child when the parent is told to stop
// ---------------------------------------------------------------------------------------------

/// Where the handler finds the children to stop: a fixed table of pids, since a handler may not
/// allocate or take a lock. `crate::child` fills and empties it.
pub(crate) static CHILD_PIDS: [AtomicI32; MAX_TRACKED] = [const { AtomicI32::new(0) }; MAX_TRACKED];
/// How many children one process can track at once (well above every demo's cap).
pub const MAX_TRACKED: usize = 1024;
/// Set when this process has made itself a child subreaper: the handler then also reaps orphaned
/// grandchildren that were handed to it.
pub(crate) static IS_SUBREAPER: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(sig: libc::c_int) {
    let msg: &[u8] = if sig == libc::SIGINT {
        b"error: interrupted by SIGINT: the demo and all its processes stopped\n"
    } else {
        b"error: terminated by SIGTERM: the demo and all its processes stopped\n"
    };
    stop_children_and_exit(128 + sig, Some(msg));
}

/// Kill (SIGKILL) and reap every tracked child, print `msg` on stderr, `_exit(code)`.
///
/// Everything here is async-signal-safe (atomics, kill, waitpid, write, _exit: no allocation, no
/// lock, no formatting), so the SIGINT/SIGTERM handler calls it, and so does the output code when
/// stdout is closed.
pub(crate) fn stop_children_and_exit(code: i32, msg: Option<&[u8]>) -> ! {
    for slot in &CHILD_PIDS {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill takes plain integers. The pid is still ours: we never reap it before
            // clearing the slot, so the number cannot have been reused by another process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    for slot in &CHILD_PIDS {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            let mut status = 0;
            // SAFETY: waitpid writes into `status`, a valid local. Retry on EINTR.
            while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
                && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }
    if IS_SUBREAPER.load(Ordering::SeqCst) {
        // A subreaper also has children it never forked: orphans re-parented to it. One of them
        // may be tracked by nobody yet (a grandchild whose parent we just killed), and may be
        // waiting for *us* to close a pipe: waiting for it would hang. So kill every child the
        // kernel lists, reap, and look again, until waitpid says there are none (ECHILD).
        loop {
            kill_listed_children();
            let mut status = 0;
            // SAFETY: as above.
            let r = unsafe { libc::waitpid(-1, &mut status, 0) };
            if r == -1 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
    }
    if let Some(msg) = msg {
        // SAFETY: write(2) from a valid buffer; the result is irrelevant as we exit next.
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    }
    exit_now(code)
}

/// SIGKILL every child the kernel lists for this thread (`/proc/thread-self/children`).
/// Async-signal-safe: open, read into a stack buffer, parse digits by hand, kill, close.
fn kill_listed_children() {
    let path = b"/proc/thread-self/children\0";
    // SAFETY: a NUL-terminated path literal; open does not keep the pointer.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 512];
    let mut pid: i32 = 0;
    loop {
        // SAFETY: reading into a stack buffer of the length given.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        // A pid may be split across two reads: the partial number carries over in `pid`.
        for &b in &buf[..n as usize] {
            if b.is_ascii_digit() {
                pid = pid.saturating_mul(10).saturating_add(i32::from(b - b'0'));
            } else {
                if pid > 0 {
                    // SAFETY: kill takes integers; this pid is our child right now (listed by
                    // the kernel and not reaped, since only this handler reaps from here on).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                pid = 0;
            }
        }
    }
    if pid > 0 {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
}

/// Install the parent's SIGINT/SIGTERM handler: kill and reap every tracked child, print one
/// line, exit 130 or 143. Idempotent.
pub fn install_stop_handlers() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid (empty mask, no flags); we then set the handler to
        // a function whose body is async-signal-safe (see on_stop_signal).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            // Block the other stop signal while handling one, so the handler never runs twice.
            libc::sigaddset(&mut sa.sa_mask, libc::SIGINT);
            libc::sigaddset(&mut sa.sa_mask, libc::SIGTERM);
            sa.sa_flags = libc::SA_RESTART;
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// In a freshly forked child: SIGINT and SIGTERM back to their default action (die quietly), so
/// a Ctrl-C to the whole process group gives one message (the parent's), not one per process.
pub fn reset_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: SIG_DFL is always a valid disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Block (`true`) or unblock (`false`) SIGINT and SIGTERM for the calling thread. Used around
/// fork so the handler never runs between fork and the child's pid being recorded.
pub fn block_stop_signals(block: bool) {
    // SAFETY: sigset operations on a local set; sigprocmask with a valid set pointer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

// --- added for bench ---

/// The C programmer's process-shared mutex: glibc's `pthread_mutex_t` initialised with
/// `PTHREAD_PROCESS_SHARED`. The benchmarks (`bench`) use it as the "raw" yardstick that
/// [`crate::sync::Lock`] is measured against; the demos use `Lock`.
///
/// A zeroed `pthread_mutex_t` is glibc's *private* default mutex, whose futex waits are keyed by
/// process: across processes a waiter could sleep forever. So zero here means "not initialised"
/// (`state` 0): call [`PthreadMutex::init_shared`] once, before forking. Locking happens only
/// inside [`PthreadMutex::with`], so no guard can escape its closure, be unlocked twice, or be
/// unlocked by a process that does not hold it.
#[repr(C)]
pub struct PthreadMutex {
    /// 0 not initialised, 1 being initialised, 2 ready.
    state: AtomicU32,
    m: std::cell::UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: pthread mutex calls are thread-safe by definition, and the cell is touched only by
// them: once by `init_shared` (guarded by `state`), then by lock/unlock.
unsafe impl Sync for PthreadMutex {}
// SAFETY: all-zero is the "not initialised" state every method checks; it is Sync (above); a
// glibc mutex holds only integers (lock word, owner tid, counters), no pointers.
unsafe impl ShmSafe for PthreadMutex {}

impl std::fmt::Debug for PthreadMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PthreadMutex")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

impl PthreadMutex {
    /// pthread_mutexattr_setpshared(PTHREAD_PROCESS_SHARED) + pthread_mutex_init. Once only;
    /// a second call is an error (re-initialising a mutex someone may hold is undefined).
    pub fn init_shared(&self) -> io::Result<()> {
        if self
            .state
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(io::Error::other("PthreadMutex initialised twice"));
        }
        // SAFETY: we are the only initialiser (state went 0 -> 1 above) and nobody locks before
        // state is 2; `attr` is a local, initialised by pthread_mutexattr_init before any other
        // use and destroyed after pthread_mutex_init has copied what it needs.
        let r = unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            let mut r = libc::pthread_mutexattr_init(&mut attr);
            if r == 0 {
                r = libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
                if r == 0 {
                    r = libc::pthread_mutex_init(self.m.get(), &attr);
                }
                libc::pthread_mutexattr_destroy(&mut attr);
            }
            r
        };
        if r != 0 {
            self.state.store(0, Ordering::Release);
            return Err(io::Error::from_raw_os_error(r));
        }
        self.state.store(2, Ordering::Release);
        Ok(())
    }

    /// Run `f` holding the mutex (pthread_mutex_lock, `f`, pthread_mutex_unlock; the unlock also
    /// runs if `f` panics).
    pub fn with<R>(&self, f: impl FnOnce() -> R) -> io::Result<R> {
        struct Unlock<'a>(&'a PthreadMutex);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                // SAFETY: this thread locked the mutex in `with` and unlocks it exactly once.
                unsafe { libc::pthread_mutex_unlock(self.0.m.get()) };
            }
        }
        if self.state.load(Ordering::Acquire) != 2 {
            return Err(io::Error::other("PthreadMutex used before init_shared"));
        }
        // SAFETY: the mutex is initialised (state 2) and stays mapped while `self` is borrowed.
        let r = unsafe { libc::pthread_mutex_lock(self.m.get()) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        let _unlock = Unlock(self);
        Ok(f())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_childs_write_is_seen_by_the_parent() {
        // The whole point of MAP_SHARED: after fork, parent and child map the same pages. (With
        // MAP_PRIVATE, memmap2's `map_anon`, the child would write to its own copy and the
        // parent would still read 0.)
        let shared = SharedBox::<AtomicU64>::new_zeroed().unwrap();
        // SAFETY: the test process has several threads (libtest's), so the child may only make
        // async-signal-safe calls: it does one atomic store and `_exit`, nothing else.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            shared.store(42, std::sync::atomic::Ordering::SeqCst);
            // SAFETY: `_exit` is async-signal-safe and skips the parent's destructors and
            // libtest's machinery, which this copy of the process must not run.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child; `status` is a valid out-pointer.
        let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(reaped, pid, "waitpid: {}", io::Error::last_os_error());
        assert_eq!(shared.load(std::sync::atomic::Ordering::SeqCst), 42);
    }
}
