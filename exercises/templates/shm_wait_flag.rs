//! shm_wait_flag: wait for a shared flag with a futex, not a sleep loop.
//! 等待共享内存里的标志：用 futex 事件阻塞等待，不要 sleep 轮询。
//!
//! The cook (a child process) waits for an order the waiter (the parent) writes into shared
//! memory. Checking the flag, sleeping 1 ms and checking again wakes the cook a thousand times a
//! second. `common::sync::Event` lets it sleep in the kernel (futex) until the parent notifies.
//! The checker watches the cook while no order has come: it must not wake up.

use std::io::BufRead;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

common::shared_struct! {
    struct Kitchen {
        /// 0 = no order yet, else the dish number.
        order: AtomicU32,
        /// Rung by the parent after it writes `order`.
        order_placed: common::sync::Event,
    }
}

fn main() -> anyhow::Result<()> {
    let kitchen = common::Shared::<Kitchen>::new_zeroed()?;
    let mut cook = common::spawn("cook", || {
        println!("== waiting pid={} ==", std::process::id());
        // TODO: a polling loop. `kitchen.order_placed` can put the cook to sleep instead.
        while kitchen.order.load(SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        println!("cook: got order {}", kitchen.order.load(SeqCst));
        Ok(())
    })?;
    // The customer orders when the checker says so (Enter, if you run it by hand).
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    kitchen.order.store(7, SeqCst);
    // (Whoever waits on the event must be woken: see Event::notify.)
    cook.join()?;
    println!("waiter: served");
    Ok(())
}
