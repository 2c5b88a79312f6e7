//! The `unsafe` pieces the `ipc` member needs (signals with values, POSIX semaphores, passing a
//! descriptor), a part of [`crate::sys`], the one module allowed `unsafe`. Same rules: each piece as small as it can be, a `// SAFETY:`
//! line above every `unsafe` block, a `# Safety` section on every `unsafe fn` (there are none:
//! every function here is safe to call).
//!
//! | item | call | why it needs `unsafe` |
//! |---|---|---|
//! | [`sigqueue`] | sigqueue(3) | no nix wrapper: a realtime signal carrying a value |
//! | [`SignalSet`] | sigemptyset, sigaddset, pthread_sigmask, sigpending | nix's `SigSet` takes only the standard signals, not `SIGRTMIN + n` |
//! | [`SignalSet::wait`] | sigwaitinfo(2), sigtimedwait(2) | the sender's pid and value are fields of a C union in `siginfo_t` |
//! | [`NamedSemaphore`] | sem_open, sem_wait, sem_timedwait, sem_post, sem_getvalue, sem_close, sem_unlink | C calls on a `sem_t *` the C library mapped for us |
//! | [`SharedFd`] | mmap(2) `MAP_SHARED` of a file descriptor (memmap2) | turning a mapping into `&T` |
//! | [`recv_fd`] (and [`send_fd`]) | recvmsg(2) `SCM_RIGHTS` | taking ownership of the descriptor the kernel installed |
//!
//! Alternatives not taken: `signalfd` (nix has it) would make the signals readable through a
//! descriptor that `poll` can watch beside others; `sigwaitinfo` is the plain blocking call and
//! the one Python exposes as `signal.sigwaitinfo`. For semaphores, an unnamed `sem_init` in
//! shared memory would avoid the name altogether; CPython uses named ones (`sem_open`, then
//! `sem_unlink` at once), and the name is part of the lesson.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::time::Duration;

use crate::sys::ShmSafe;

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

/// The first realtime signal number (glibc keeps the first two or three for its threads, so this
/// is a function, not a constant).
pub fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

/// sigqueue(3): send signal `signo` with the integer `value` to process `pid`. A realtime signal
/// sent this way is queued (one entry per send, in order); `EAGAIN` when the receiver's queue is
/// at its limit (`RLIMIT_SIGPENDING`).
pub fn sigqueue(pid: i32, signo: i32, value: i32) -> io::Result<()> {
    let v = libc::sigval {
        sival_ptr: value as isize as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes plain integers and a sigval by value; nothing is borrowed.
    let r = unsafe { libc::sigqueue(pid, signo, v) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What `sigwaitinfo` says about one received signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigInfo {
    /// The signal number.
    pub signo: i32,
    /// The sender's pid (for `SIGCHLD`: the child that changed state).
    pub pid: i32,
    /// The value given to `sigqueue` (0 for `kill`); for `SIGCHLD`, the exit status or signal.
    pub value: i32,
    /// `si_code`: `SI_USER` for kill, `SI_QUEUE` for sigqueue, `CLD_EXITED`... for `SIGCHLD`.
    pub code: i32,
}

/// A set of signal numbers (standard or realtime), as the kernel's `sigset_t`.
#[derive(Clone, Copy)]
pub struct SignalSet {
    set: libc::sigset_t,
}

impl std::fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<i32> = (1..=64).filter(|&s| self.contains(s)).collect();
        f.debug_struct("SignalSet")
            .field("members", &members)
            .finish()
    }
}

impl SignalSet {
    /// The set of `signals`.
    pub fn of(signals: &[i32]) -> SignalSet {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it before any other use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
        unsafe { libc::sigemptyset(&mut set) };
        for &s in signals {
            // SAFETY: as above; an invalid number makes sigaddset fail with EINVAL, nothing worse.
            unsafe { libc::sigaddset(&mut set, s) };
        }
        SignalSet { set }
    }

    /// Whether `signo` is in the set.
    pub fn contains(&self, signo: i32) -> bool {
        // SAFETY: reading an initialised sigset_t.
        unsafe { libc::sigismember(&self.set, signo) == 1 }
    }

    /// Block these signals for the calling thread (pthread_sigmask `SIG_BLOCK`): from now on they
    /// are not delivered but kept *pending*, and a forked child inherits the same mask. Returns
    /// the previous mask, for [`SignalSet::set_mask`].
    pub fn block(&self) -> io::Result<SignalSet> {
        self.mask(libc::SIG_BLOCK)
    }

    /// Make this set the calling thread's whole mask (pthread_sigmask `SIG_SETMASK`).
    pub fn set_mask(&self) -> io::Result<SignalSet> {
        self.mask(libc::SIG_SETMASK)
    }

    fn mask(&self, how: i32) -> io::Result<SignalSet> {
        // SAFETY: sigset_t is plain data, filled by pthread_sigmask below.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to valid sigset_t values that outlive the call.
        let r = unsafe { libc::pthread_sigmask(how, &self.set, &mut old) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(SignalSet { set: old })
    }

    /// The signals pending for this thread or process (sigpending(2)): sent while blocked, not
    /// yet received.
    pub fn pending() -> io::Result<SignalSet> {
        // SAFETY: as above.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: sigpending fills the valid sigset_t we pass.
        if unsafe { libc::sigpending(&mut set) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SignalSet { set })
    }

    /// Take one pending signal of this set, blocking in the kernel until one is pending
    /// (`timeout` None: sigwaitinfo) or at most `timeout` (sigtimedwait; `Ok(None)` when it
    /// expires; a zero timeout only looks). The signals must be blocked, or the kernel may deliver
    /// them to their default action instead.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<SigInfo>> {
        loop {
            // SAFETY: siginfo_t is plain data, filled by the kernel below.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let r = match timeout {
                // SAFETY: valid set and info pointers for the duration of the call.
                None => unsafe { libc::sigwaitinfo(&self.set, &mut info) },
                Some(t) => {
                    let ts = libc::timespec {
                        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
                        tv_nsec: t.subsec_nanos() as libc::c_long,
                    };
                    // SAFETY: as above, plus a valid timespec.
                    unsafe { libc::sigtimedwait(&self.set, &mut info, &ts) }
                }
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => return Ok(None),
                    _ => return Err(e),
                }
            }
            let value = if r == libc::SIGCHLD {
                // SAFETY: for SIGCHLD the kernel filled the si_status member of the union.
                unsafe { info.si_status() }
            } else {
                // SAFETY: for kill and sigqueue the kernel filled si_value (zero for kill); we
                // read its integer member, which sigqueue wrote.
                unsafe { info.si_value().sival_ptr as isize as i32 }
            };
            // SAFETY: si_pid is filled for signals sent by a process (kill, sigqueue, SIGCHLD).
            let pid = unsafe { info.si_pid() };
            return Ok(Some(SigInfo {
                signo: r,
                pid,
                value,
                code: info.si_code,
            }));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// POSIX named semaphores
// ---------------------------------------------------------------------------------------------

/// A POSIX named semaphore (`sem_overview(7)`): a counter in a small shared file that glibc
/// creates as `/dev/shm/sem.NAME` and maps into the process. `wait` takes a permit (sleeping in
/// the kernel, on a futex, while there is none), `post` gives one back.
///
/// A forked child inherits the mapping, so the same handle works in the child: this is how
/// CPython's `multiprocessing.Semaphore` and `Lock` reach their children under fork.
pub struct NamedSemaphore {
    sem: NonNull<libc::sem_t>,
}

// SAFETY: the sem_* functions are thread-safe (and process-safe) by specification; the pointer
// is only passed to them.
unsafe impl Send for NamedSemaphore {}
// SAFETY: as above.
unsafe impl Sync for NamedSemaphore {}

impl std::fmt::Debug for NamedSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedSemaphore")
            .field("value", &self.value().ok())
            .finish()
    }
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::other("semaphore name contains a NUL byte"))
}

impl NamedSemaphore {
    /// sem_open(`name`, O_CREAT | O_EXCL, 0600, `value`): a new semaphore with `value` permits.
    /// Fails with `EEXIST` if the name is taken.
    pub fn create(name: &str, value: u32) -> io::Result<NamedSemaphore> {
        let c = c_name(name)?;
        // SAFETY: a NUL-terminated name; the variadic mode and value are passed as the C
        // prototype promotes them (mode_t as c_uint, value as c_uint).
        let p = unsafe {
            libc::sem_open(
                c.as_ptr(),
                libc::O_CREAT | libc::O_EXCL,
                0o600 as libc::c_uint,
                value as libc::c_uint,
            )
        };
        if p == libc::SEM_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(NamedSemaphore {
            sem: NonNull::new(p).ok_or_else(|| io::Error::other("sem_open returned null"))?,
        })
    }

    /// sem_open(`name`, 0): open an existing semaphore by its name (what an unrelated process
    /// does).
    pub fn open(name: &str) -> io::Result<NamedSemaphore> {
        let c = c_name(name)?;
        // SAFETY: a NUL-terminated name, no O_CREAT so no variadic arguments.
        let p = unsafe { libc::sem_open(c.as_ptr(), 0) };
        if p == libc::SEM_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(NamedSemaphore {
            sem: NonNull::new(p).ok_or_else(|| io::Error::other("sem_open returned null"))?,
        })
    }

    /// sem_unlink(`name`): remove the name. Processes that have it open keep using it; the
    /// memory goes when the last one closes it (or exits).
    pub fn unlink(name: &str) -> io::Result<()> {
        let c = c_name(name)?;
        // SAFETY: a NUL-terminated name.
        if unsafe { libc::sem_unlink(c.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// sem_wait: take a permit, sleeping in the kernel while there is none.
    pub fn wait(&self) -> io::Result<()> {
        loop {
            // SAFETY: `sem` came from a successful sem_open and is not closed before drop.
            if unsafe { libc::sem_wait(self.sem.as_ptr()) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }

    /// sem_timedwait: take a permit, waiting at most `timeout`. `Ok(false)` when it expired.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        // sem_timedwait wants an absolute CLOCK_REALTIME deadline.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(io::Error::other)?;
        let at = now + timeout;
        let ts = libc::timespec {
            tv_sec: at.as_secs() as libc::time_t,
            tv_nsec: at.subsec_nanos() as libc::c_long,
        };
        loop {
            // SAFETY: as for `wait`, plus a valid timespec.
            if unsafe { libc::sem_timedwait(self.sem.as_ptr(), &ts) } == 0 {
                return Ok(true);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ETIMEDOUT) => return Ok(false),
                _ => return Err(e),
            }
        }
    }

    /// sem_post: give a permit back (wakes one sleeper, if any). Nothing checks that the caller
    /// took one: a plain semaphore counts up without limit.
    pub fn post(&self) -> io::Result<()> {
        // SAFETY: as for `wait`.
        if unsafe { libc::sem_post(self.sem.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// sem_getvalue: the permits available right now (a snapshot).
    pub fn value(&self) -> io::Result<i32> {
        let mut v: libc::c_int = 0;
        // SAFETY: as for `wait`, plus a valid out pointer.
        if unsafe { libc::sem_getvalue(self.sem.as_ptr(), &mut v) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(v)
    }
}

impl Drop for NamedSemaphore {
    fn drop(&mut self) {
        // SAFETY: closing the handle sem_open gave us, once; no reference outlives `self`.
        unsafe { libc::sem_close(self.sem.as_ptr()) };
    }
}

// ---------------------------------------------------------------------------------------------
// Memory shared through a file descriptor (a memfd passed over a Unix socket)
// ---------------------------------------------------------------------------------------------

/// A shared struct `T` at the start of the file behind a descriptor, mapped `MAP_SHARED` (with
/// memmap2): every process that maps the same file (a memfd received over `SCM_RIGHTS`, say)
/// sees the same memory. [`crate::Shared`] is the same idea for a memfd that only forked
/// children reach; this one maps a descriptor the caller holds, so it can be sent first.
pub struct SharedFd<T: ShmSafe> {
    map: memmap2::MmapMut,
    _t: std::marker::PhantomData<T>,
}

impl<T: ShmSafe> std::fmt::Debug for SharedFd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFd")
            .field("bytes", &self.map.len())
            .finish()
    }
}

impl<T: ShmSafe> SharedFd<T> {
    /// Map a `T` from the start of `fd`'s file, which must be at least that long (the creator
    /// sets the size with `ftruncate` first, which also zero-fills it: a valid `T`).
    pub fn map(fd: BorrowedFd<'_>) -> io::Result<SharedFd<T>> {
        assert!(
            std::mem::align_of::<T>() <= 4096,
            "page alignment is the most mmap gives"
        );
        let len = std::mem::size_of::<T>().max(1);
        let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(io::Error::from)?;
        if (st.st_size as u64) < len as u64 {
            return Err(io::Error::other(format!(
                "the file is {} bytes, shorter than the {len} to map",
                st.st_size
            )));
        }
        // SAFETY: memmap2 calls this unsafe because the file may change under the mapping. Its
        // bytes changing is the point, and they are only reached as `T: ShmSafe` (atomics). A
        // process holding the fd could also shrink the file, which would make an access raise
        // SIGBUS (a crash); the processes sharing it here are the demo's own and none does.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(&fd) }?;
        Ok(SharedFd {
            map,
            _t: std::marker::PhantomData,
        })
    }
}

impl<T: ShmSafe> std::ops::Deref for SharedFd<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the mapping is page-aligned (so aligned for T), at least size_of::<T>() long
        // (checked in `map`), lives as long as `self`; the file was zero-filled by ftruncate and
        // written only through T's atomic fields, and `T: ShmSafe` makes every such state a
        // valid, Sync T.
        unsafe { &*self.map.as_ptr().cast::<T>() }
    }
}

// ---------------------------------------------------------------------------------------------
// Passing a descriptor over a Unix socket (SCM_RIGHTS)
// ---------------------------------------------------------------------------------------------

/// sendmsg(2) with one data byte and `fd` as `SCM_RIGHTS`: the receiver gets its own descriptor
/// for the same open file (a memfd, a socket, a pipe end...).
pub fn send_fd(sock: BorrowedFd<'_>, byte: u8, fd: BorrowedFd<'_>) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[io::IoSlice::new(&[byte])],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(io::Error::from)?;
    Ok(())
}

/// recvmsg(2) of one data byte and one `SCM_RIGHTS` descriptor, which this process then owns.
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<(u8, OwnedFd)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut received = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: SCM_RIGHTS installed `raw` in this process's table for this message
                // alone; nothing else in the process knows the number, so we are its only owner
                // (a second descriptor, if a sender sent two, is owned and closed the same way).
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                received.get_or_insert(owned);
            }
        }
    }
    let fd = received.ok_or_else(|| io::Error::other("no descriptor arrived with the message"))?;
    Ok((byte[0], fd))
}
