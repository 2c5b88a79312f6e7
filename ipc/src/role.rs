//! The peers of `socket`, started by **exec**, not fork: `ipc role tcp-client ...` is a fresh
//! program that inherits nothing from the demo but its stdout and stderr. It finds the server by
//! address or name, as any unrelated program would. A pipe or an anonymous `MAP_SHARED` region
//! could not be reached this way; a socket can.
//!
//! Each role still obeys the workspace rule that no process outlives the demo: it asks the
//! kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`) and checks that the parent is
//! still the one that started it. The parent tracks it like a forked child
//! ([`common::child::adopt_named`], named after its role), so Ctrl-C and SIGTERM stop it too.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::process::{Command, Stdio};

use anyhow::{ensure, Context, Result};
use common::sys::ipc::SharedFd;
use common::Child;
use nix::sys::signal::Signal;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable carrying the authkey (hex) to an `auth-client`. CPython hands the
/// key to its children in the pickled process object, never on the command line (which `ps`
/// shows to every user).
pub const AUTHKEY_ENV: &str = "IPC_DEMO_AUTHKEY";
/// Exit status of an `auth-client` whose key was refused.
pub const EXIT_REFUSED: i32 = 3;

common::shared_struct! {
    /// What the memfd of `socket` holds: written by its creator, answered by the peer that
    /// received its descriptor.
    pub struct MemfdNote {
        /// The creator's pid.
        pub creator: AtomicU64,
        /// A number the creator wrote.
        pub question: AtomicU64,
        /// The pid of the peer that answered.
        pub peer: AtomicU64,
        /// The question + 1, written by the peer.
        pub answer: AtomicU64,
    }
}

/// Flags of the hidden `role` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(subcommand)]
    pub role: Role,
}

/// Which peer to be.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Role {
    /// Connect to 127.0.0.1:PORT and send lines, checking each echo.
    TcpClient {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        id: u32,
        #[arg(long)]
        messages: u32,
        #[arg(long)]
        parent: i32,
    },
    /// The same through a Unix socket with an abstract name.
    UnixClient {
        #[arg(long)]
        name: String,
        #[arg(long)]
        id: u32,
        #[arg(long)]
        messages: u32,
        #[arg(long)]
        parent: i32,
    },
    /// Client(address, authkey=...) with the key from the environment.
    AuthClient {
        #[arg(long)]
        name: String,
        #[arg(long)]
        parent: i32,
    },
    /// Receive a memfd over SCM_RIGHTS, map it, answer through it.
    MemfdPeer {
        #[arg(long)]
        name: String,
        #[arg(long)]
        parent: i32,
    },
}

/// What errors call the peer started with `args`: its role, and its id if it has one
/// (`tcp-client 2`, `memfd-peer`).
fn peer_name(args: &[String]) -> String {
    let role = args.first().map_or("peer", String::as_str);
    match args.iter().find_map(|a| a.strip_prefix("--id=")) {
        Some(id) => format!("{role} {id}"),
        None => role.to_string(),
    }
}

/// Start `ipc role ARGS --parent PID` and track it like a forked child.
pub fn spawn_peer(args: &[String], env: Option<(&str, String)>) -> Result<Child> {
    let exe = std::env::current_exe().context("current_exe")?;
    let mut cmd = Command::new(exe);
    cmd.arg("role")
        .args(args)
        .arg("--parent")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    common::out::flush();
    // Stop signals blocked until the pid is tracked, so a Ctrl-C cannot miss this child (the
    // peer unblocks them first thing: the mask survives exec).
    common::sys::block_stop_signals(true);
    let started = cmd
        .spawn()
        .context("spawn (exec ipc role)")
        .and_then(|c| common::child::adopt_named(c.id() as i32, peer_name(args)));
    common::sys::block_stop_signals(false);
    started
}

/// What every role does first: die with the parent, and leave Ctrl-C messages to it.
fn become_peer(parent: i32) -> Result<()> {
    common::sys::reset_stop_signals();
    common::sys::block_stop_signals(false);
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
    // The parent may have died before that call: then we were re-parented and must go.
    if nix::unistd::getppid().as_raw() != parent {
        std::process::exit(1);
    }
    Ok(())
}

/// Run a role.
pub fn run(a: &Args) -> Result<()> {
    match &a.role {
        Role::TcpClient {
            port,
            id,
            messages,
            parent,
        } => {
            become_peer(*parent)?;
            let s = std::net::TcpStream::connect(("127.0.0.1", *port)).context("connect")?;
            s.set_nodelay(true)?;
            echo_client(&s, &s, *id, *messages)
        }
        Role::UnixClient {
            name,
            id,
            messages,
            parent,
        } => {
            become_peer(*parent)?;
            let s = connect_abstract(name)?;
            echo_client(&s, &s, *id, *messages)
        }
        Role::AuthClient { name, parent } => {
            become_peer(*parent)?;
            auth_client(name)
        }
        Role::MemfdPeer { name, parent } => {
            become_peer(*parent)?;
            memfd_peer(name)
        }
    }
}

/// Connect to a Unix socket in the abstract namespace (`@name` in `ss -x`).
pub fn connect_abstract(name: &str) -> Result<UnixStream> {
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).context("abstract address")?;
    UnixStream::connect_addr(&addr).with_context(|| format!("connect(@{name})"))
}

/// The line a client sends as message `j`.
pub fn line(id: u32, j: u32) -> String {
    format!("message {j} from client {id}\n")
}

/// Send `messages` lines, one at a time, each checked when it comes back.
fn echo_client(r: impl std::io::Read, mut w: impl Write, id: u32, messages: u32) -> Result<()> {
    let mut r = BufReader::new(r);
    let mut back = String::new();
    for j in 0..messages {
        let sent = line(id, j);
        w.write_all(sent.as_bytes()).context("write")?;
        back.clear();
        r.read_line(&mut back).context("read")?;
        ensure!(back == sent, "sent {sent:?}, echoed {back:?}");
    }
    Ok(())
}

fn auth_client(name: &str) -> Result<()> {
    let hex = std::env::var(AUTHKEY_ENV).with_context(|| format!("{AUTHKEY_ENV} not set"))?;
    let key = from_hex(&hex)?;
    let mut s = connect_abstract(name)?;
    // Client(): answer the server's challenge, then challenge the server.
    match crate::auth::answer_challenge(&mut s, &key)
        .and_then(|()| crate::auth::deliver_challenge(&mut s, &key))
    {
        Ok(()) => {}
        Err(e) if crate::auth::is_auth_error(&e) => {
            // Refused, as expected for a wrong key: say so by the exit status alone.
            std::process::exit(EXIT_REFUSED);
        }
        Err(e) => return Err(e),
    }
    crate::auth::send_bytes(&mut s, b"hello")?;
    let reply = crate::auth::recv_bytes(&mut s, 1024)?;
    ensure!(reply == b"hello to you", "unexpected reply {reply:?}");
    Ok(())
}

/// Hex for the authkey in the environment.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Result<Vec<u8>> {
    ensure!(s.len() % 2 == 0, "odd-length hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("bad hex"))
        .collect()
}

fn memfd_peer(name: &str) -> Result<()> {
    let s = connect_abstract(name)?;
    // recvmsg with room for one descriptor: the kernel installs a new fd in this process that
    // refers to the same memory file as the sender's.
    let (_, fd) = common::sys::ipc::recv_fd(s.as_fd()).context("recvmsg(SCM_RIGHTS)")?;
    let note = SharedFd::<MemfdNote>::map(fd.as_fd()).context("mmap(memfd)")?;
    let question = note.question.load(Ordering::SeqCst);
    note.peer
        .store(u64::from(std::process::id()), Ordering::SeqCst);
    note.answer.store(question + 1, Ordering::SeqCst);
    // "Done": one byte back, so the creator reads the answer only after it was written.
    (&s).write_all(b"d").context("write")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_named_after_its_role_and_id() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            peer_name(&args(&["tcp-client", "--port=80", "--id=2"])),
            "tcp-client 2"
        );
        assert_eq!(peer_name(&args(&["memfd-peer", "--name=x"])), "memfd-peer");
        assert_eq!(peer_name(&[]), "peer");
    }
}
