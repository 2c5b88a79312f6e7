//! The nine channels of `compare`, each measured the same way.
//!
//! Every function forks one child, the *writer*, and then:
//! 1. **Round trips**: the parent sends `1, 2, ..., rounds` one at a time and waits for each to
//!    come back (the child echoes it through the same mechanism in the other direction). The
//!    mean of one round is the latency: two hand-offs, two wake-ups.
//! 2. **Stream**: the child sends `1, 2, ..., n` as fast as the mechanism lets it, one send per
//!    message (no batching: a pipe could carry thousands of messages in one `write`, but then
//!    it would be measuring memcpy, not the channel), and then ends the stream the way the
//!    mechanism allows (EOF, `close`, an end marker, or simply exiting). The parent counts what
//!    arrives and checks the order. Messages per second = delivered / time from the end of the
//!    round trips to the last arrival. The child starts the stream only when the parent says
//!    "go" (one more message, not echoed), so the time counts the whole stream and the parent
//!    is not still waking up from the last round trip when it begins.
//!
//! Waiting is always in the kernel: `read`, `mq_receive`, `sem_wait`, `sigwaitinfo`, or a futex
//! (the queue and the slot). Nobody polls.
//!
//! With `--trace FILE` each side marks its two phases, "round trips" and "stream", as slices on
//! its own track, and each writer names its track after its row: in the viewer the stream of
//! one mechanism sits above the reader's, and the gap between a writer's last send and the
//! reader's last arrival is what was still in flight.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use common::sys::ipc::{sigqueue, sigrtmin, NamedSemaphore, SignalSet};
use common::trace::{self, Span};
use common::{Child, Shared};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getppid, Pid};

use crate::object_name;

/// What one mechanism achieved.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Messages of the stream that reached the parent.
    pub delivered: u64,
    /// From the end of the round trips to the last arrival.
    pub stream: Duration,
    /// Mean round trip.
    pub rtt: Duration,
    /// Something worth saying about this run (why fewer arrived).
    pub note: Option<String>,
}

/// One row of the table: the measurement and the properties that do not need measuring.
#[derive(Debug, Clone, Copy)]
pub struct Mechanism {
    /// Its name in the table and the summary.
    pub name: &'static str,
    /// The notes' word for it.
    pub note_name: &'static str,
    /// Whether every message must arrive (the demo fails otherwise).
    pub reliable: bool,
    /// Whether one send arrives as one receive.
    pub boundaries: &'static str,
    /// Whether two processes with no common ancestor can use it, and how they find it.
    pub unrelated: &'static str,
    /// What is left for the reader when the writer dies.
    pub writer_dies: &'static str,
    /// Send `n` messages and `rounds` round trips.
    pub measure: fn(u64, u64) -> Result<Outcome>,
}

/// Every row of `compare`, in the notes' order.
pub const ALL: [Mechanism; 9] = [
    Mechanism {
        name: "pipe",
        note_name: "管道",
        reliable: true,
        boundaries: "no: bytes",
        unrelated: "no: inherited fd",
        writer_dies: "buffered bytes, then EOF",
        measure: pipe,
    },
    Mechanism {
        name: "queue (shm ring)",
        note_name: "消息队列",
        reliable: true,
        boundaries: "yes",
        unrelated: "no: inherited map",
        writer_dies: "its puts stay queued",
        measure: shm_queue,
    },
    Mechanism {
        name: "POSIX mqueue",
        note_name: "消息队列",
        reliable: true,
        boundaries: "yes (+priority)",
        unrelated: "yes: by name",
        writer_dies: "messages stay in kernel",
        measure: posix_mqueue,
    },
    Mechanism {
        name: "shm slot",
        note_name: "共享内存",
        reliable: false,
        boundaries: "one at a time",
        unrelated: "no: inherited map",
        writer_dies: "the last value",
        measure: shm_slot,
    },
    Mechanism {
        name: "signal SIGUSR1",
        note_name: "信号",
        reliable: false,
        boundaries: "merged",
        unrelated: "yes: by pid",
        writer_dies: "the pending bit",
        measure: standard_signal,
    },
    Mechanism {
        name: "signal SIGRTMIN",
        note_name: "信号",
        reliable: false,
        boundaries: "yes: one int",
        unrelated: "yes: by pid",
        writer_dies: "queued signals",
        measure: realtime_signal,
    },
    Mechanism {
        name: "semaphore + slot",
        note_name: "信号量",
        reliable: true,
        boundaries: "yes",
        unrelated: "sem by name",
        writer_dies: "a held permit is lost",
        measure: semaphore_slot,
    },
    Mechanism {
        name: "unix socket",
        note_name: "套接字",
        reliable: true,
        boundaries: "no: stream",
        unrelated: "yes: by name",
        writer_dies: "buffered bytes, then EOF",
        measure: unix_socket,
    },
    Mechanism {
        name: "tcp 127.0.0.1",
        note_name: "套接字",
        reliable: true,
        boundaries: "no: stream",
        unrelated: "yes, other hosts",
        writer_dies: "buffered bytes, then EOF",
        measure: tcp_socket,
    },
];

/// A phase of a row ("round trips", "stream") as a slice on this process's track.
fn phase(name: &'static str) -> Option<Span> {
    crate::traced(name, "phase")
}

/// The first thing a writer does: name its track after its row, `writer: pipe`.
fn writer_track(row: &str) {
    if trace::enabled() {
        trace::process_name(&format!("writer: {row}"));
    }
}

/// Wait for the writer and insist it succeeded: a failed writer makes the row meaningless.
fn finish(mut child: Child) -> Result<()> {
    child.join()?;
    match child.failure() {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

fn mean(total: Duration, rounds: u64) -> Duration {
    total / u32::try_from(rounds.max(1)).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------------
// Byte streams: pipe, Unix socket, TCP. One message = 8 bytes (a u64), fixed size, so the
// reader can cut the stream back into messages: the stream itself keeps no boundaries.
// ---------------------------------------------------------------------------------------------

fn read_u64(r: &mut impl Read) -> io::Result<Option<u64>> {
    let mut b = [0u8; 8];
    match r.read_exact(&mut b) {
        Ok(()) => Ok(Some(u64::from_le_bytes(b))),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// The child's side: echo `rounds` messages, then stream `1..=n`, one `write` each. Returning
/// drops (closes) the write end: the parent's read then sees EOF.
fn stream_child(mut rx: impl Read, mut tx: impl Write, n: u64, rounds: u64) -> Result<()> {
    let round_trips = phase("round trips");
    for _ in 0..rounds {
        let k = read_u64(&mut rx)?.context("EOF during the round trips")?;
        tx.write_all(&k.to_le_bytes()).context("write (echo)")?;
    }
    drop(round_trips);
    read_u64(&mut rx)?.context("EOF instead of go")?;
    let _stream = phase("stream");
    for k in 1..=n {
        tx.write_all(&k.to_le_bytes()).context("write")?;
    }
    Ok(())
}

/// The parent's side: `rounds` round trips, then read until EOF, checking the order.
fn stream_parent(rx: impl Read, mut tx: impl Write, n: u64, rounds: u64) -> Result<Outcome> {
    // Buffered: the reader takes whatever the kernel has in one read, then cuts it into messages.
    let mut rx = BufReader::with_capacity(64 * 1024, rx);
    let round_trips = phase("round trips");
    let t0 = Instant::now();
    for k in 1..=rounds {
        tx.write_all(&k.to_le_bytes()).context("write (ping)")?;
        let back = read_u64(&mut rx)?.context("EOF during the round trips")?;
        ensure!(back == k, "sent {k}, got {back} back");
    }
    let rtt = mean(t0.elapsed(), rounds);
    drop(round_trips);
    let _stream = phase("stream");
    let t1 = Instant::now();
    tx.write_all(&0u64.to_le_bytes()).context("write (go)")?;
    let mut delivered = 0;
    while let Some(k) = read_u64(&mut rx).context("read")? {
        ensure!(
            k == delivered + 1,
            "message {k} arrived after {delivered}: out of order"
        );
        delivered += 1;
    }
    ensure!(delivered <= n, "more messages than were sent");
    Ok(Outcome {
        delivered,
        stream: t1.elapsed(),
        rtt,
        note: None,
    })
}

fn pipe_pair() -> Result<(File, File)> {
    let (r, w): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    Ok((File::from(r), File::from(w)))
}

/// Two pipes, one per direction (a pipe is one-way).
pub fn pipe(n: u64, rounds: u64) -> Result<Outcome> {
    let (up_r, up_w) = pipe_pair()?; // child -> parent
    let (down_r, down_w) = pipe_pair()?; // parent -> child
    let child = common::spawn("writer", move || {
        writer_track("pipe");
        stream_child(down_r, up_w, n, rounds)
    })?;
    // `spawn` dropped its closure here in the parent: our copies of up_w and down_r are closed,
    // so when the child exits, nobody holds up_w open and our read sees EOF.
    let out = stream_parent(up_r, down_w, n, rounds)?;
    finish(child)?;
    Ok(out)
}

/// A Unix stream socket with a name in the abstract namespace (Linux): found by name like a
/// path, but no file is created, and the name disappears with the listening socket.
pub fn unix_socket(n: u64, rounds: u64) -> Result<Outcome> {
    let name = object_name("compare");
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).context("abstract address")?;
    let listener = UnixListener::bind_addr(&addr).context("bind (unix)")?;
    let child = common::spawn("writer", move || {
        writer_track("unix socket");
        // Found by name, as an unrelated process would find it: nothing inherited is used.
        let s = UnixStream::connect_addr(&addr).context("connect (unix)")?;
        stream_child(&s, &s, n, rounds)
    })?;
    let (s, _) = listener.accept().context("accept (unix)")?;
    drop(listener); // the name is gone now; the connection stays
    let out = stream_parent(&s, &s, n, rounds)?;
    finish(child)?;
    Ok(out)
}

/// TCP over the loopback interface: the same code would talk to another machine.
pub fn tcp_socket(n: u64, rounds: u64) -> Result<Outcome> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind (tcp)")?;
    let port = listener.local_addr()?.port();
    let child = common::spawn("writer", move || {
        writer_track("tcp 127.0.0.1");
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).context("connect (tcp)")?;
        // Without TCP_NODELAY, Nagle's algorithm holds a small write back until the previous one
        // is acknowledged: each round trip would wait for a delayed ACK (40 ms).
        s.set_nodelay(true)?;
        stream_child(&s, &s, n, rounds)
    })?;
    let (s, _) = listener.accept().context("accept (tcp)")?;
    s.set_nodelay(true)?;
    drop(listener);
    let out = stream_parent(&s, &s, n, rounds)?;
    finish(child)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Message queues: the queue member's ring in shared memory, and the kernel's POSIX mqueue.
// ---------------------------------------------------------------------------------------------

/// Two of the `queue` member's shared-memory rings (one per direction); the child `close`s the
/// upward one after the stream, and the parent's `get` then reports `Closed` once it is empty.
pub fn shm_queue(n: u64, rounds: u64) -> Result<Outcome> {
    let up = queue::Queue::new(64, 8)?;
    let down = queue::Queue::new(64, 8)?;
    let child = common::spawn("writer", || {
        writer_track("queue (shm ring)");
        let mut buf = Vec::with_capacity(8);
        let round_trips = phase("round trips");
        for _ in 0..rounds {
            down.get_into(&mut buf)?;
            up.put(&buf)?;
        }
        drop(round_trips);
        down.get_into(&mut buf)?; // go
        let _stream = phase("stream");
        for k in 1..=n {
            up.put(&k.to_le_bytes())?;
        }
        up.close();
        Ok(())
    })?;
    let mut buf = Vec::with_capacity(8);
    let round_trips = phase("round trips");
    let t0 = Instant::now();
    for k in 1..=rounds {
        down.put(&k.to_le_bytes())?;
        up.get_into(&mut buf)?;
        ensure!(buf == k.to_le_bytes(), "sent {k}, got {buf:?} back");
    }
    let rtt = mean(t0.elapsed(), rounds);
    drop(round_trips);
    let stream_phase = phase("stream");
    let t1 = Instant::now();
    down.put(&0u64.to_le_bytes())?; // go
    let mut delivered = 0u64;
    loop {
        match up.get_into(&mut buf) {
            Ok(()) => {
                let k = u64::from_le_bytes(buf.as_slice().try_into().context("8-byte message")?);
                ensure!(k == delivered + 1, "message {k} after {delivered}");
                delivered += 1;
            }
            Err(queue::QueueError::Closed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let stream = t1.elapsed();
    drop(stream_phase);
    finish(child)?;
    Ok(Outcome {
        delivered,
        stream,
        rtt,
        note: None,
    })
}

/// A POSIX message queue descriptor, closed on drop (nix's `MqdT` is not).
struct Mq(Option<nix::mqueue::MqdT>);

impl Mq {
    fn get(&self) -> &nix::mqueue::MqdT {
        self.0.as_ref().expect("open until dropped")
    }
}

impl Drop for Mq {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = nix::mqueue::mq_close(d);
        }
    }
}

/// Create a POSIX message queue, open it, and unlink its name at once: the queue lives on in the
/// descriptor (and in the children that inherit it), and no name can be left behind. Stop
/// signals are blocked meanwhile, so Ctrl-C cannot land between `mq_open` and `mq_unlink`.
fn anonymous_mq(suffix: &str) -> Result<Mq> {
    use nix::mqueue::{mq_open, mq_unlink, MQ_OFlag, MqAttr};
    use nix::sys::stat::Mode;
    let name = format!("/{}", object_name(suffix));
    common::sys::block_stop_signals(true);
    let attr = MqAttr::new(0, 10, 8, 0); // 10 messages: the unprivileged default maximum
    let opened = mq_open(
        name.as_str(),
        MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR | MQ_OFlag::O_CLOEXEC,
        Mode::S_IRUSR | Mode::S_IWUSR,
        Some(&attr),
    )
    .with_context(|| format!("mq_open({name}, O_CREAT)"));
    let unlinked = match &opened {
        Ok(_) => mq_unlink(name.as_str()).with_context(|| format!("mq_unlink({name})")),
        Err(_) => Ok(()),
    };
    common::sys::block_stop_signals(false);
    let mq = Mq(Some(opened?));
    unlinked?;
    Ok(mq)
}

/// The kernel's message queue, one per direction; an empty message ends the stream.
pub fn posix_mqueue(n: u64, rounds: u64) -> Result<Outcome> {
    use nix::mqueue::{mq_receive, mq_send};
    let up = anonymous_mq("mq-up")?;
    let down = anonymous_mq("mq-down")?;
    let child = common::spawn("writer", || {
        writer_track("POSIX mqueue");
        let mut buf = [0u8; 8];
        let mut prio = 0;
        let round_trips = phase("round trips");
        for _ in 0..rounds {
            let len = mq_receive(down.get(), &mut buf, &mut prio).context("mq_receive")?;
            mq_send(up.get(), &buf[..len], 0).context("mq_send (echo)")?;
        }
        drop(round_trips);
        mq_receive(down.get(), &mut buf, &mut prio).context("mq_receive (go)")?;
        let _stream = phase("stream");
        for k in 1..=n {
            mq_send(up.get(), &k.to_le_bytes(), 0).context("mq_send")?;
        }
        mq_send(up.get(), &[], 0).context("mq_send (end)")?;
        Ok(())
    })?;
    let mut buf = [0u8; 8];
    let mut prio = 0;
    let round_trips = phase("round trips");
    let t0 = Instant::now();
    for k in 1..=rounds {
        mq_send(down.get(), &k.to_le_bytes(), 0).context("mq_send (ping)")?;
        let len = mq_receive(up.get(), &mut buf, &mut prio).context("mq_receive")?;
        ensure!(len == 8 && buf == k.to_le_bytes(), "sent {k}, got {buf:?}");
    }
    let rtt = mean(t0.elapsed(), rounds);
    drop(round_trips);
    let stream_phase = phase("stream");
    let t1 = Instant::now();
    mq_send(down.get(), &0u64.to_le_bytes(), 0).context("mq_send (go)")?;
    let mut delivered = 0u64;
    loop {
        let len = mq_receive(up.get(), &mut buf, &mut prio).context("mq_receive")?;
        if len == 0 {
            break; // the end marker: boundaries are kept, so even an empty message arrives
        }
        let k = u64::from_le_bytes(buf);
        ensure!(k == delivered + 1, "message {k} after {delivered}");
        delivered += 1;
    }
    let stream = t1.elapsed();
    drop(stream_phase);
    finish(child)?;
    Ok(Outcome {
        delivered,
        stream,
        rtt,
        note: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Shared memory: a bare slot (the shared-mem member's seqlock slot), and a slot guarded by
// semaphores.
// ---------------------------------------------------------------------------------------------

/// Sleep (futex) until `slot` holds `target`.
fn wait_for_value(slot: &shared_mem::overwrite::Slot, target: u64) -> Result<()> {
    let mut torn = 0;
    loop {
        let (k, v) = slot.read(&mut torn)?;
        if k == target {
            return Ok(());
        }
        slot.wait_newer(v);
    }
}

/// One slot per direction for the round trips (each waits for its answer, so nothing is
/// overwritten unread), and one slot for the stream, which nobody waits for: the writer
/// overwrites, the reader counts what it happened to see.
pub fn shm_slot(n: u64, rounds: u64) -> Result<Outcome> {
    use shared_mem::overwrite::Slot;
    let (down, up, stream) = (Slot::new()?, Slot::new()?, Slot::new()?);
    let child = common::spawn("writer", || {
        writer_track("shm slot");
        let round_trips = phase("round trips");
        for k in 1..=rounds {
            wait_for_value(&down, k)?;
            up.write(k);
        }
        drop(round_trips);
        wait_for_value(&down, rounds + 1)?; // go
        let _stream = phase("stream");
        for k in 1..=n {
            stream.write(k); // no waiting for the reader: that is what "a slot" means
        }
        Ok(())
    })?;
    let round_trips = phase("round trips");
    let t0 = Instant::now();
    for k in 1..=rounds {
        down.write(k);
        wait_for_value(&up, k)?;
    }
    let rtt = mean(t0.elapsed(), rounds);
    drop(round_trips);
    let stream_phase = phase("stream");
    let t1 = Instant::now();
    down.write(rounds + 1); // go
    let (mut last, mut delivered, mut torn) = (0u64, 0u64, 0u64);
    loop {
        let (k, v) = stream.read(&mut torn)?;
        if k > last {
            delivered += 1;
            last = k;
        } else if k < last {
            bail!("the slot went back from {last} to {k}");
        }
        if k == n {
            break; // the last value is never overwritten: the reader always sees it
        }
        stream.wait_newer(v);
    }
    let elapsed = t1.elapsed();
    drop(stream_phase);
    finish(child)?;
    Ok(Outcome {
        delivered,
        stream: elapsed,
        rtt,
        note: (delivered < n)
            .then(|| format!("{} overwritten before the reader looked", n - delivered)),
    })
}

common::shared_struct! {
    /// The slot of the semaphore row: one word each way.
    pub struct Mailbox {
        /// Parent -> child.
        pub down: AtomicU64,
        /// Child -> parent.
        pub up: AtomicU64,
    }
}

/// Create a named semaphore and unlink the name at once (stop signals blocked in between), as
/// CPython's `multiprocessing.synchronize.SemLock` does on Linux.
pub fn anonymous_semaphore(suffix: &str, value: u32) -> Result<NamedSemaphore> {
    let name = format!("/{}", object_name(suffix));
    common::sys::block_stop_signals(true);
    let sem = NamedSemaphore::create(&name, value).with_context(|| format!("sem_open({name})"));
    let unlinked = match &sem {
        Ok(_) => NamedSemaphore::unlink(&name).with_context(|| format!("sem_unlink({name})")),
        Err(_) => Ok(()),
    };
    common::sys::block_stop_signals(false);
    let sem = sem?;
    unlinked?;
    Ok(sem)
}

/// One word each way, and three semaphores: `up_empty` (1: the upward word may be written),
/// `up_full` (0: it holds a message) and `down_full`. The classic bounded buffer of size one:
/// nothing is overwritten, because the writer waits for the reader's `post`.
pub fn semaphore_slot(n: u64, rounds: u64) -> Result<Outcome> {
    let mail = common::Shared::<Mailbox>::new_zeroed().context("mmap(MAP_SHARED)")?;
    let up_empty = anonymous_semaphore("up-empty", 1)?;
    let up_full = anonymous_semaphore("up-full", 0)?;
    let down_full = anonymous_semaphore("down-full", 0)?;
    let send_up = |k: u64| -> Result<()> {
        up_empty.wait().context("sem_wait")?;
        // The semaphores order the accesses (sem_post/sem_wait are full barriers); the word is
        // atomic only because shared memory must be.
        mail.up.store(k, Ordering::Relaxed);
        up_full.post().context("sem_post")?;
        Ok(())
    };
    let receive_up = || -> Result<u64> {
        up_full.wait().context("sem_wait")?;
        let k = mail.up.load(Ordering::Relaxed);
        up_empty.post().context("sem_post")?;
        Ok(k)
    };
    let child = common::spawn("writer", || {
        writer_track("semaphore + slot");
        let round_trips = phase("round trips");
        for _ in 0..rounds {
            down_full.wait().context("sem_wait")?;
            send_up(mail.down.load(Ordering::Relaxed))?;
        }
        drop(round_trips);
        down_full.wait().context("sem_wait (go)")?;
        let _stream = phase("stream");
        for k in 1..=n {
            send_up(k)?;
        }
        Ok(())
    })?;
    let round_trips = phase("round trips");
    let t0 = Instant::now();
    for k in 1..=rounds {
        mail.down.store(k, Ordering::Relaxed);
        down_full.post().context("sem_post")?;
        let back = receive_up()?;
        ensure!(back == k, "sent {k}, got {back} back");
    }
    let rtt = mean(t0.elapsed(), rounds);
    drop(round_trips);
    let stream_phase = phase("stream");
    let t1 = Instant::now();
    down_full.post().context("sem_post (go)")?;
    for k in 1..=n {
        let got = receive_up()?;
        ensure!(got == k, "message {got} where {k} was due");
    }
    let stream = t1.elapsed();
    drop(stream_phase);
    finish(child)?;
    Ok(Outcome {
        delivered: n,
        stream,
        rtt,
        note: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Signals. Both directions use signals; the receiver keeps them blocked and takes them with
// sigwaitinfo (no handler runs). The child inherits the blocked mask through fork. The end of
// the stream is the child's exit: SIGCHLD.
// ---------------------------------------------------------------------------------------------

/// Block `signo` and SIGCHLD around `body`, and before unblocking take whatever is still pending
/// (an unblocked SIGUSR1 with its default action would kill us).
fn with_blocked<T>(signo: i32, body: impl FnOnce() -> Result<T>) -> Result<T> {
    let set = SignalSet::of(&[signo, libc::SIGCHLD]);
    let old = set.block().context("pthread_sigmask")?;
    let result = body();
    while set.wait(Some(Duration::ZERO))?.is_some() {}
    old.set_mask().context("pthread_sigmask")?;
    result
}

/// The parent's side of a round trip: wait for the echo, or fail if the writer exited instead
/// (SIGCHLD) rather than wait forever.
fn wait_echo(signo: i32) -> Result<common::sys::ipc::SigInfo> {
    let info = SignalSet::of(&[signo, libc::SIGCHLD])
        .wait(None)?
        .context("sigwaitinfo returned nothing")?;
    ensure!(
        info.signo == signo,
        "the writer exited during the round trips"
    );
    Ok(info)
}

/// The parent's side of the stream: count `signo` until SIGCHLD says the writer has exited,
/// then take what is still pending. Returns (delivered, in order, elapsed).
fn receive_signals(signo: i32, n: u64) -> Result<(u64, bool, Duration)> {
    let _stream = phase("stream");
    let t1 = Instant::now();
    let both = SignalSet::of(&[signo, libc::SIGCHLD]);
    let only = SignalSet::of(&[signo]);
    let (mut delivered, mut last, mut in_order) = (0u64, 0i64, true);
    let mut count = |v: i32| {
        delivered += 1;
        in_order &= i64::from(v) > last || signo == libc::SIGUSR1;
        last = i64::from(v);
    };
    loop {
        let info = both.wait(None)?.context("sigwaitinfo returned nothing")?;
        if info.signo == libc::SIGCHLD {
            // The writer has exited, so every signal it sent is already pending: take them
            // without waiting (a zero timeout only looks).
            while let Some(i) = only.wait(Some(Duration::ZERO))? {
                count(i.value);
            }
            break;
        }
        count(info.value);
    }
    ensure!(delivered <= n, "more signals than were sent");
    Ok((delivered, in_order, t1.elapsed()))
}

/// `kill(SIGUSR1)` n times: a standard signal is one bit in the receiver's pending set, so
/// signals sent while one is already pending merge into it.
pub fn standard_signal(n: u64, rounds: u64) -> Result<Outcome> {
    let usr1 = libc::SIGUSR1;
    with_blocked(usr1, || {
        let child = common::spawn("writer", move || {
            writer_track("signal SIGUSR1");
            let parent = getppid();
            let mine = SignalSet::of(&[usr1]);
            let round_trips = phase("round trips");
            for _ in 0..rounds {
                mine.wait(None)?;
                kill(parent, Signal::SIGUSR1).context("kill")?;
            }
            drop(round_trips);
            // Wait for "go": a stream sent while the parent is still waking up from the last
            // round trip would merge into that round's signal and count for nothing.
            mine.wait(None)?;
            let _stream = phase("stream");
            for _ in 0..n {
                kill(parent, Signal::SIGUSR1).context("kill")?;
            }
            Ok(())
        })?;
        let pid = Pid::from_raw(child.pid());
        let round_trips = phase("round trips");
        let t0 = Instant::now();
        for _ in 0..rounds {
            kill(pid, Signal::SIGUSR1).context("kill")?;
            wait_echo(usr1)?;
        }
        let rtt = mean(t0.elapsed(), rounds);
        drop(round_trips);
        kill(pid, Signal::SIGUSR1).context("kill (go)")?;
        let (delivered, _, stream) = receive_signals(usr1, n)?;
        finish(child)?;
        Ok(Outcome {
            delivered,
            stream,
            rtt,
            note: (delivered < n).then(|| format!("{} merged into a pending one", n - delivered)),
        })
    })
}

/// `sigqueue(SIGRTMIN, k)` n times: realtime signals are queued, one entry each, with the value,
/// in order, up to the receiver's limit (`RLIMIT_SIGPENDING`); beyond it `sigqueue` fails with
/// EAGAIN and the sender knows that one was not sent.
pub fn realtime_signal(n: u64, rounds: u64) -> Result<Outcome> {
    let rt = sigrtmin();
    let refused = Shared::<AtomicU64>::new_zeroed().context("mmap(MAP_SHARED)")?;
    with_blocked(rt, || {
        let child = common::spawn("writer", || {
            writer_track("signal SIGRTMIN");
            let parent = getppid().as_raw();
            let mine = SignalSet::of(&[rt]);
            let round_trips = phase("round trips");
            for _ in 0..rounds {
                let info = mine.wait(None)?.context("sigwaitinfo")?;
                sigqueue(parent, rt, info.value).context("sigqueue")?;
            }
            drop(round_trips);
            mine.wait(None)?; // go
            let _stream = phase("stream");
            for k in 1..=n {
                match sigqueue(parent, rt, k as i32) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => return Err(e).context("sigqueue"),
                }
            }
            Ok(())
        })?;
        let round_trips = phase("round trips");
        let t0 = Instant::now();
        for k in 1..=rounds {
            sigqueue(child.pid(), rt, k as i32).context("sigqueue")?;
            let info = wait_echo(rt)?;
            ensure!(info.value as u64 == k, "sent {k}, got {} back", info.value);
        }
        let rtt = mean(t0.elapsed(), rounds);
        drop(round_trips);
        sigqueue(child.pid(), rt, 0).context("sigqueue (go)")?;
        let (delivered, in_order, stream) = receive_signals(rt, n)?;
        finish(child)?;
        ensure!(in_order, "realtime signals arrived out of order");
        let refused = refused.load(Ordering::Relaxed);
        ensure!(
            delivered + refused == n,
            "{delivered} delivered + {refused} refused by sigqueue != {n} sent"
        );
        Ok(Outcome {
            delivered,
            stream,
            rtt,
            note: (refused > 0)
                .then(|| format!("{refused} refused by sigqueue (EAGAIN: queue full)")),
        })
    })
}
