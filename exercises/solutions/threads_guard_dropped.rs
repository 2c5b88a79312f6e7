//! threads_guard_dropped: hold ONE guard across the read and the write.
//! 抢票：读和写要在同一次加锁里完成，临时的锁守卫在语句结束时就释放了。
//!
//! Eight buyers (threads) sell ten tickets. `*tickets.lock().unwrap()` locks, copies the number,
//! and unlocks at the end of that statement: the guard is a temporary. Reading under one lock and
//! writing under another lets every buyer see "10 left" and sell the same ticket. The checker
//! runs this several times; exactly ten tickets must be sold every time.

use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

fn main() {
    let tickets = Arc::new(Mutex::new(10u32));
    let start = Arc::new(Barrier::new(8));
    let mut buyers = Vec::new();
    for i in 0..8 {
        let tickets = Arc::clone(&tickets);
        let start = Arc::clone(&start);
        buyers.push(thread::spawn(move || {
            start.wait();
            let mut sold = 0;
            loop {
                // One guard for the whole check-then-sell: nobody else can read in between.
                let mut left = tickets.lock().unwrap();
                if *left == 0 {
                    break;
                }
                thread::sleep(Duration::from_millis(1)); // printing the ticket
                *left -= 1;
                sold += 1;
            }
            println!("buyer {i}: sold {sold}");
            sold
        }));
    }
    let sold: u32 = buyers.into_iter().map(|b| b.join().unwrap()).sum();
    println!("sold: {sold}");
    println!("left: {}", tickets.lock().unwrap());
}
