//! prodcons_sender_kept: the channel closes when the LAST sender is dropped.
//! 消费者永远不结束：main 自己还拿着一个发送端，通道就永远不会关闭。
//!
//! Two producers and two consumers share a bounded channel (Python's `Queue(4)`). A consumer's
//! `recv()` returns `Err` (the end) only when every `Sender` is gone. The producers drop their
//! clones when they finish, but main still holds the original: the consumers wait forever.

use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread;

fn main() {
    let (tx, rx) = sync_channel::<u32>(4);
    let rx = Arc::new(Mutex::new(rx));
    let mut producers = Vec::new();
    for p in 0..2 {
        let tx = tx.clone();
        producers.push(thread::spawn(move || {
            for i in 0..5 {
                tx.send(p * 100 + i).unwrap();
            }
        }));
    }
    // Main produces nothing: drop its sender, so the channel closes when the producers finish.
    drop(tx);
    let mut consumers = Vec::new();
    for c in 0..2 {
        let rx = Arc::clone(&rx);
        consumers.push(thread::spawn(move || {
            let mut got = 0;
            loop {
                let item = rx.lock().unwrap().recv();
                match item {
                    Ok(_) => got += 1,
                    Err(_) => break, // every sender dropped: no more items
                }
            }
            println!("consumer {c}: done");
            got
        }));
    }
    for p in producers {
        p.join().unwrap();
    }
    let total: u32 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    println!("consumed: {total}");
}
