//! prodcons_lost_wakeup: whoever makes room must wake whoever waits for room.
//! 有界队列：取走一个元素后要唤醒等待“有空位”的生产者，否则两边都睡着（唤醒丢失）。
//!
//! A bounded queue from a mutex and two condition variables. `put` waits on `not_full` while the
//! queue is full and rings `not_empty`; `get` waits on `not_empty` while it is empty and must ring
//! `not_full`. Forget one bell and the producer sleeps forever on a queue the consumer has
//! already emptied, while the consumer sleeps waiting for it.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::Duration;

struct Bounded {
    items: Mutex<VecDeque<u32>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

impl Bounded {
    fn put(&self, item: u32) {
        let mut items = self.items.lock().unwrap();
        while items.len() == self.capacity {
            items = self.not_full.wait(items).unwrap();
        }
        items.push_back(item);
        self.not_empty.notify_one();
    }

    fn get(&self) -> u32 {
        let mut items = self.items.lock().unwrap();
        while items.is_empty() {
            items = self.not_empty.wait(items).unwrap();
        }
        let item = items.pop_front().unwrap();
        // TODO: a producer may be waiting for exactly this room.
        item
    }
}

fn main() {
    let queue = Bounded {
        items: Mutex::new(VecDeque::new()),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
        capacity: 2,
    };
    thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=10 {
                queue.put(i);
            }
            queue.put(0); // the sentinel
        });
        let mut sum = 0;
        loop {
            let item = queue.get();
            if item == 0 {
                break;
            }
            thread::sleep(Duration::from_millis(1)); // the consumer is slower: the queue fills
            sum += item;
        }
        println!("sum: {sum}");
    });
}
