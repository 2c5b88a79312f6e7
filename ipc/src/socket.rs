//! `socket`: the mechanism the notes say is used most (套接字, "使用最多"), between processes
//! that share nothing.
//!
//! Python shape:
//!
//! ```python
//! import socket, subprocess, sys
//! srv = socket.create_server(('127.0.0.1', 0)); port = srv.getsockname()[1]
//! client = ("import socket; s = socket.create_connection(('127.0.0.1', %d)); "
//!           "s.sendall(b'hi'); print(s.recv(10))" % port)
//! p = subprocess.Popen([sys.executable, '-c', client])   # exec: a new program, nothing inherited
//! conn, _ = srv.accept(); conn.sendall(conn.recv(10)); p.wait()
//! ```
//!
//! Steps:
//! 1. **TCP on 127.0.0.1, port 0** (the kernel picks a free port). The clients are started by
//!    *exec* (`ipc role tcp-client --port P`): new programs that inherit no descriptor and no
//!    memory from the server. They need only the address. Each sends `--messages` lines and
//!    checks every echo. The server takes them one connection at a time: it sleeps in `poll`
//!    on the listening socket and the clients' pidfds (so a client that dies before connecting
//!    is reported, not waited for), then `accept`s, then sleeps in `read` until a line arrives.
//! 2. **A named `AF_UNIX` socket**: the same stream API, found by a name instead of a port. The
//!    name is in Linux's abstract namespace (`@ipc-demo-PID-unix` in `ss -x`): no file is
//!    created, and the name goes away with the listening socket, so none can be left behind.
//! 3. **`Listener`/`Client` with an `authkey`** ([`crate::auth`]): a client with the key is
//!    welcomed and talks; one with a wrong key is refused before it can send anything.
//! 4. **A memfd passed over the Unix socket** (`SCM_RIGHTS`): the server creates an anonymous
//!    memory file, writes a number into it, and sends the *descriptor* to an exec'd peer, which
//!    maps it and writes its answer. Two unrelated processes now share memory: the one thing
//!    that needed fork (inheriting the mapping) done with a socket instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::sync::atomic::Ordering;

use anyhow::{ensure, Context, Result};
use common::sys::ipc::SharedFd;
use common::{json, out, Child};

use crate::object_name;
use crate::role::{spawn_peer, MemfdNote, AUTHKEY_ENV, EXIT_REFUSED};

/// Most client processes (`--clients`).
pub const MAX_CLIENTS: u32 = 32;
/// Most messages per client (`--messages`).
pub const MAX_MESSAGES: u32 = 100_000;

/// Flags of `socket`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// TCP client processes, each started by exec (at most 32).
    #[arg(long, default_value_t = 3, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_CLIENTS as i64))]
    pub clients: u32,
    /// Lines each client sends and gets echoed (at most 100000).
    #[arg(long, default_value_t = 5, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_MESSAGES as i64))]
    pub messages: u32,
}

/// Echo every line of one connection until the client closes it; returns the lines received.
fn serve_echo(r: impl Read, mut w: impl Write, who: &str) -> Result<u64> {
    let mut r = BufReader::new(r);
    let mut line = String::new();
    let mut received = 0;
    loop {
        line.clear();
        if r.read_line(&mut line).context("read")? == 0 {
            return Ok(received); // EOF: the client closed its end (or exited)
        }
        received += 1;
        if received <= 2 {
            out::event(
                "line",
                json!({"from": who, "line": line.trim_end()}),
                format!("  server <- {who}: {:?}", line.trim_end()),
            );
        }
        w.write_all(line.as_bytes()).context("write")?;
    }
}

fn expect_success(mut c: Child, what: &str) -> Result<()> {
    c.join()?;
    match c.failure() {
        Some(why) => anyhow::bail!("{what}: {why}"),
        None => Ok(()),
    }
}

/// Block in `poll` until `listener` has a connection waiting, or fail if one of `peers` exited
/// with a failure first (a client that died before connecting would otherwise leave `accept`
/// waiting forever). A peer that exited cleanly has already been served: it is not watched again.
fn wait_for_connection(listener: &impl AsFd, peers: &mut [Child], connected: &[i32]) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // A peer that already connected may end, even with a failure of its own (a refused
    // Client exits 3): that is not "died before connecting", so it is not watched.
    let mut done: Vec<bool> = peers.iter().map(|p| connected.contains(&p.pid())).collect();
    loop {
        let mut fds = vec![PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let watched: Vec<usize> = (0..peers.len()).filter(|&i| !done[i]).collect();
        for &i in &watched {
            // A pidfd becomes readable when its process exits.
            fds.push(PollFd::new(peers[i].pidfd(), PollFlags::POLLIN));
        }
        poll(&mut fds, PollTimeout::NONE).context("poll")?;
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            return Ok(());
        }
        for (k, &i) in watched.iter().enumerate() {
            if ready[k + 1] {
                peers[i].try_reap()?;
                if let Some(why) = peers[i].failure() {
                    anyhow::bail!("a client died before connecting: {why}");
                }
                done[i] = true;
            }
        }
    }
}

fn listen_abstract(suffix: &str) -> Result<(UnixListener, String)> {
    let name = object_name(suffix);
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).context("abstract address")?;
    let l = UnixListener::bind_addr(&addr).with_context(|| format!("bind(@{name})"))?;
    Ok((l, name))
}

/// Run the demo.
pub fn run(a: &Args) -> Result<()> {
    let (clients, messages) = (a.clients, a.messages);
    let mut received = 0u64;

    // 1. TCP with exec'd clients.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind(127.0.0.1:0)")?;
    let port = listener.local_addr()?.port();
    out::event(
        "listening",
        json!({"address": format!("127.0.0.1:{port}")}),
        format!(
            "TCP server listening on 127.0.0.1:{port} (port 0 asked the kernel for a free one); \
             starting {clients} client programs by exec, each told only the port"
        ),
    );
    let mut peers = Vec::new();
    for id in 0..clients {
        let args = [
            "tcp-client".to_string(),
            format!("--port={port}"),
            format!("--id={id}"),
            format!("--messages={messages}"),
        ];
        peers.push(spawn_peer(&args, None)?);
    }
    for _ in 0..clients {
        wait_for_connection(&listener, &mut peers, &[])?;
        let (s, peer) = listener.accept().context("accept")?;
        s.set_nodelay(true)?;
        let n = serve_echo(&s, &s, &peer.to_string())?;
        out::event(
            "client_done",
            json!({"peer": peer.to_string(), "received": n}),
            format!("  {peer}: {n} lines received and echoed, then EOF"),
        );
        received += n;
    }
    drop(listener);
    for (id, p) in peers.into_iter().enumerate() {
        expect_success(p, &format!("tcp client {id}"))?;
    }

    // 2. A named Unix socket.
    let (listener, name) = listen_abstract("unix")?;
    let args = [
        "unix-client".to_string(),
        format!("--name={name}"),
        format!("--id={clients}"),
        format!("--messages={messages}"),
    ];
    let mut peer = [spawn_peer(&args, None)?];
    wait_for_connection(&listener, &mut peer, &[])?;
    let [peer] = peer;
    let (s, _) = listener.accept().context("accept(unix)")?;
    drop(listener); // the name disappears; the connection stays
    let n = serve_echo(&s, &s, &format!("@{name}"))?;
    out::event(
        "unix_done",
        json!({"name": format!("@{name}"), "received": n}),
        format!("AF_UNIX socket @{name} (abstract name: no file): {n} lines received and echoed"),
    );
    received += n;
    expect_success(peer, "unix client")?;
    let sent = u64::from(clients + 1) * u64::from(messages);
    ensure!(received == sent, "received {received} lines of {sent} sent");

    // 3. Listener / Client with an authkey.
    let wrong_key_refused = authkey()?;

    // 4. A memfd over SCM_RIGHTS.
    let memfd_shared = memfd()?;

    out::summary(json!({
        "clients": clients,
        "messages": messages,
        "sent": sent,
        "received": received,
        "wrong_key_refused": wrong_key_refused,
        "memfd_shared": memfd_shared,
    }));
    Ok(())
}

/// Two `Client`s, one with the listener's key and one with another; returns whether the wrong
/// one was refused (and the right one welcomed).
fn authkey() -> Result<bool> {
    let (listener, name) = listen_abstract("auth")?;
    let key: [u8; 32] = std::array::from_fn(|_| rand::random());
    let mut wrong = key;
    wrong[0] ^= 1; // one bit off is as wrong as any other key
    out::say(format!(
        "Listener(@{name}, authkey=<32 random bytes>); two Client programs: one given the key, \
         one given the key with one bit flipped"
    ));
    let mut peers = [
        spawn_peer(
            &["auth-client".into(), format!("--name={name}")],
            Some((AUTHKEY_ENV, crate::role::to_hex(&key))),
        )?,
        spawn_peer(
            &["auth-client".into(), format!("--name={name}")],
            Some((AUTHKEY_ENV, crate::role::to_hex(&wrong))),
        )?,
    ];
    let (mut welcomed, mut refused) = (0, 0);
    let mut connected = Vec::new();
    for _ in 0..2 {
        wait_for_connection(&listener, &mut peers, &connected)?;
        let (mut s, _) = listener.accept().context("accept(auth)")?;
        // Who connected: the kernel records the peer's pid on a Unix socket (SO_PEERCRED).
        let peer = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials)
            .context("getsockopt(SO_PEERCRED)")?;
        connected.push(peer.pid());
        // Listener.accept(): challenge the client, then answer its challenge.
        match crate::auth::deliver_challenge(&mut s, &key)
            .and_then(|()| crate::auth::answer_challenge(&mut s, &key))
        {
            Ok(()) => {
                welcomed += 1;
                let msg = crate::auth::recv_bytes(&mut s, 1024)?;
                crate::auth::send_bytes(&mut s, b"hello to you")?;
                out::event(
                    "authenticated",
                    json!({"message": String::from_utf8_lossy(&msg)}),
                    format!(
                        "  a client proved the key (HMAC-SHA256 of our challenge): #WELCOME#, \
                         then it said {:?}",
                        String::from_utf8_lossy(&msg)
                    ),
                );
            }
            Err(e) if crate::auth::is_auth_error(&e) => {
                refused += 1;
                out::event(
                    "refused",
                    json!({"error": e.to_string()}),
                    format!("  a client's digest did not match: #FAILURE#, {e}"),
                );
            }
            Err(e) => return Err(e),
        }
    }
    drop(listener);
    let [right_peer, mut wrong_peer] = peers;
    expect_success(right_peer, "the client with the right key")?;
    let st = wrong_peer.join()?;
    let wrong_exit_refused = st.python_exitcode() == EXIT_REFUSED;
    ensure!(
        welcomed == 1 && refused == 1 && wrong_exit_refused,
        "expected one client welcomed and one refused; got {welcomed} and {refused}, wrong-key \
         client {st}"
    );
    Ok(true)
}

/// Share memory with an exec'd peer by sending it a memfd.
fn memfd() -> Result<bool> {
    let fd = nix::sys::memfd::memfd_create(
        c"ipc-demo-shared",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .context("memfd_create")?;
    // Sized to the struct; ftruncate zero-fills, and zero is a valid MemfdNote.
    nix::unistd::ftruncate(&fd, std::mem::size_of::<MemfdNote>() as i64).context("ftruncate")?;
    let note = SharedFd::<MemfdNote>::map(fd.as_fd()).context("mmap(memfd)")?;
    let question = 41 + common::rng::seed() % 1000;
    note.creator
        .store(u64::from(std::process::id()), Ordering::SeqCst);
    note.question.store(question, Ordering::SeqCst);
    let (listener, name) = listen_abstract("fd")?;
    let mut peer = [spawn_peer(
        &["memfd-peer".into(), format!("--name={name}")],
        None,
    )?];
    let peer_pid = peer[0].pid();
    wait_for_connection(&listener, &mut peer, &[])?;
    let [peer] = peer;
    let (s, _) = listener.accept().context("accept(fd)")?;
    drop(listener);
    common::sys::ipc::send_fd(s.as_fd(), b'm', fd.as_fd()).context("sendmsg(SCM_RIGHTS)")?;
    // Sleeps in read until the peer says it has written its answer.
    let mut done = [0u8; 1];
    (&s).read_exact(&mut done).context("read (peer done)")?;
    expect_success(peer, "memfd peer")?;
    let (who, answer) = (
        note.peer.load(Ordering::SeqCst),
        note.answer.load(Ordering::SeqCst),
    );
    let ok = who == peer_pid as u64 && answer == question + 1;
    out::event(
        "memfd",
        json!({"question": question, "answer": answer, "peer": who, "shared": ok}),
        format!(
            "memfd written {question}, its descriptor sent over @{name} with SCM_RIGHTS; the \
             peer (pid {who}, started by exec) mapped it and wrote {answer}: we read it in our \
             own mapping. Shared memory without fork."
        ),
    );
    ensure!(ok, "the peer's answer did not appear in our mapping");
    Ok(ok)
}
