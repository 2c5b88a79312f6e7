//! shm_lost_update: read-modify-write on shared memory needs the lock.
//! 共享内存上的“读-改-写”必须加锁，否则更新会丢失（男孩女孩存取钱）。
//!
//! The boy deposits and the girl withdraws from one shared balance, each from its own process.
//! Each change reads the balance, takes a moment (counting the notes), and writes the new value.
//! Without a lock both read the same old balance and one write overwrites the other: the
//! change is lost. The checker runs this several times; the balance must be exact every time.

use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::time::Duration;

common::shared_struct! {
    /// The account both processes change (mapped MAP_SHARED before fork).
    struct Account {
        balance: AtomicI64,
        /// Python's `money.get_lock()`: a futex lock in the shared memory.
        lock: common::sync::Lock,
        /// The bank opens for both at once.
        open: common::sync::Barrier,
    }
}

fn change(account: &Account, amount: i64, times: u32) {
    account.open.wait();
    for _ in 0..times {
        // The whole read-sleep-write is one critical section.
        let _guard = account.lock.acquire();
        let balance = account.balance.load(SeqCst);
        std::thread::sleep(Duration::from_millis(1)); // counting the notes
        account.balance.store(balance + amount, SeqCst);
    }
}

fn main() -> anyhow::Result<()> {
    let account = common::Shared::<Account>::new_zeroed()?;
    account.balance.store(1000, SeqCst);
    account.open.init(2);
    let mut boy = common::spawn("boy", || {
        change(&account, 10, 20);
        Ok(())
    })?;
    let mut girl = common::spawn("girl", || {
        change(&account, -5, 20);
        Ok(())
    })?;
    boy.join()?;
    girl.join()?;
    println!("balance: {}", account.balance.load(SeqCst));
    Ok(())
}
