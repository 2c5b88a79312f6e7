//! ipc_signal_wait: wait for a signal by blocking on it, not by polling.
//! 等待信号：阻塞读 signalfd（或 sigwait），不要“看一眼、睡一下”地轮询。
//!
//! The parent waits for SIGUSR1 from an alarm process. With the signal blocked, a signalfd turns
//! it into something to read(2): a blocking read sleeps in the kernel until the signal arrives.
//! Opening it with SFD_NONBLOCK and retrying after a short sleep is a polling loop: the process
//! wakes up over and over for nothing. The checker watches the waiter while no signal has come.

use std::io::BufRead;

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::getpid;

fn main() -> anyhow::Result<()> {
    // Block SIGUSR1 first, so it stays pending for the signalfd instead of killing us.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGUSR1);
    mask.thread_block()?;
    // SFD_NONBLOCK: read_signal returns Ok(None) at once when no signal is pending.
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;

    let waiter = getpid();
    let mut alarm = common::spawn("alarm", move || {
        // The alarm rings when the checker says so (Enter, if you run it by hand).
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        kill(waiter, Signal::SIGUSR1)?;
        Ok(())
    })?;
    println!("== waiting pid={waiter} ==");
    // TODO: "look, nap, look again" wakes the process for nothing. Let the kernel wake it.
    let info = loop {
        if let Some(info) = signals.read_signal()? {
            break Some(info);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    if let Some(info) = info {
        if info.ssi_signo == Signal::SIGUSR1 as u32 {
            println!("got SIGUSR1");
        }
    }
    alarm.join()?;
    Ok(())
}
