//! queue_blocking_get: wait in the kernel, not in a loop.
//! 阻塞地 get，而不是 get_nowait + sleep 的轮询循环。
//!
//! The consumer waits for jobs. Polling (`get_nowait()`, sleep a little, try again) wakes the
//! process hundreds of times a second to find nothing, and answers late. A blocking `get()`
//! sleeps in the kernel until a message arrives: no CPU, no wake-up, and an immediate answer.
//!
//! The checker watches the consumer (the pid in the `== waiting ==` line) while the queue is
//! empty: it must not wake up. Then it lets the producer go.

use std::ffi::CString;
use std::io::BufRead;

use nix::mqueue::{mq_open, mq_receive, mq_send, mq_unlink, MQ_OFlag, MqAttr};
use nix::sys::stat::Mode;

fn main() -> anyhow::Result<()> {
    let name = CString::new(format!("/ex-{}-jobs", std::process::id()))?;
    let attr = MqAttr::new(0, 10, 64, 0);
    // O_NONBLOCK: mq_receive on an empty queue fails with EAGAIN instead of waiting.
    let queue = mq_open(
        name.as_c_str(),
        MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR | MQ_OFlag::O_NONBLOCK,
        Mode::S_IRUSR | Mode::S_IWUSR,
        Some(&attr),
    )?;
    mq_unlink(name.as_c_str())?;

    let mut producer = common::spawn("producer", || {
        // The producer starts when the checker says so (Enter, if you run it by hand).
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        for i in 1..=3 {
            mq_send(&queue, format!("job {i}").as_bytes(), 0)?;
        }
        mq_send(&queue, b"", 0)?;
        Ok(())
    })?;

    println!("== waiting pid={} ==", std::process::id());
    let mut buf = [0u8; 64];
    let mut priority = 0;
    loop {
        // Python's get_nowait() in a loop.
        // TODO: this wakes up every millisecond to find nothing. Wait in the kernel instead.
        let n = match mq_receive(&queue, &mut buf, &mut priority) {
            Ok(n) => n,
            Err(nix::errno::Errno::EAGAIN) => {
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            break;
        }
        println!("consumer: {}", String::from_utf8_lossy(&buf[..n]));
    }
    producer.join()?;
    println!("consumer: done");
    Ok(())
}
