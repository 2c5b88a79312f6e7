//! queue_sentinel: a queue has no EOF: say "no more work" yourself.
//! 队列没有 EOF：生产者要自己放一个结束标记（哨兵，Python 的 q.put(None)）。
//!
//! A producer process puts jobs on a POSIX message queue; the parent consumes them. A pipe
//! reports EOF when every writer has gone, but a message queue never does: `mq_receive` on an
//! empty queue just waits, forever if nobody will send again. Python's answer is a sentinel,
//! `q.put(None)`, that the consumer recognises as the end.

use std::ffi::CString;

use nix::mqueue::{mq_open, mq_receive, mq_send, mq_unlink, MQ_OFlag, MqAttr};
use nix::sys::stat::Mode;

fn main() -> anyhow::Result<()> {
    // Named after our pid, so two runs never share a queue; the checker looks for this name.
    let name = CString::new(format!("/ex-{}-jobs", std::process::id()))?;
    let attr = MqAttr::new(0, 10, 64, 0);
    let queue = mq_open(
        name.as_c_str(),
        MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR,
        Mode::S_IRUSR | Mode::S_IWUSR,
        Some(&attr),
    )?;
    // The descriptor is all we need (fork copies it): remove the name now, so nothing is left
    // in /dev/mqueue whatever happens next.
    mq_unlink(name.as_c_str())?;

    let mut producer = common::spawn("producer", || {
        for i in 1..=5 {
            mq_send(&queue, format!("job {i}").as_bytes(), 0)?;
        }
        // TODO: how will the consumer know there are no more jobs?
        Ok(())
    })?;

    let mut buf = [0u8; 64];
    let mut priority = 0;
    // mq_receive blocks while the queue is empty.
    while let Ok(n) = mq_receive(&queue, &mut buf, &mut priority) {
        println!("consumer: {}", String::from_utf8_lossy(&buf[..n]));
    }
    producer.join()?;
    println!("consumer: no more jobs");
    Ok(())
}
