//! The exercises: one lesson each, what a correct program shows, one hint, in two languages.
//!
//! The program a student edits is `exercises/exercises/NAME.rs` (a copy of
//! `exercises/templates/NAME.rs`); the answer is `exercises/solutions/NAME.rs`. What the checker
//! asks of a run is in [`Check`]: the lines of output, the exit status, and the OS-level facts
//! (no child left, no zombie at the checkpoint, no wake-up while waiting, no queue name left).

/// A text in both languages.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub en: &'static str,
    pub zh: &'static str,
}

/// What the checker asks of every run of an exercise.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// How many times the program is run; each run must pass (races are forced by the programs'
    /// own pauses, and repeated so one lucky schedule cannot pass).
    pub runs: u32,
    /// The exit status a correct program ends with.
    pub exit_code: i32,
    /// Lines that must appear, in this order (whole lines, trailing spaces ignored).
    pub lines: &'static [&'static str],
    /// Lines that must appear, in any order.
    pub any_order: &'static [&'static str],
    /// No line may start with one of these.
    pub absent: &'static [&'static str],
    /// Each must appear somewhere in stderr.
    pub stderr_has: &'static [&'static str],
    /// At the `== checkpoint ==` line the program must have no child process (running or zombie).
    pub checkpoint_no_children: bool,
    /// At the `== checkpoint ==` line the program must hold no descriptor but 0, 1 and 2.
    pub checkpoint_no_fds: bool,
    /// The program prints `== waiting pid=N ==`; process N must sleep in the kernel until the
    /// checker answers (few wake-ups, little CPU).
    pub idle: bool,
}

const BASE: Check = Check {
    runs: 1,
    exit_code: 0,
    lines: &[],
    any_order: &[],
    absent: &[],
    stderr_has: &[],
    checkpoint_no_children: false,
    checkpoint_no_fds: false,
    idle: false,
};

/// One exercise.
#[derive(Debug, Clone, Copy)]
pub struct Exercise {
    /// The file name without `.rs`.
    pub name: &'static str,
    /// The workspace member whose lesson this is.
    pub member: &'static str,
    pub title: Text,
    /// What a correct program does, in the student's terms (the verdict's "expected").
    pub expected: Text,
    pub hint: Text,
    pub check: Check,
}

/// Every exercise, in the order a class would do them (the order of the members in the README).
pub const ALL: &[Exercise] = &[
    Exercise {
        name: "process_zombie",
        member: "process",
        title: Text {
            en: "reap every child you start",
            zh: "回收你启动的每个子进程",
        },
        expected: Text {
            en: "at the checkpoint the three workers are finished and reaped: no child, no zombie",
            zh: "到检查点时三个 worker 都已结束并被回收：没有子进程，也没有僵尸进程",
        },
        hint: Text {
            en: "An exited child stays a zombie until its parent calls waitpid(2). std's `Child` does not wait when dropped: call `worker.wait()` on each worker before the checkpoint (Python: `p.join()`).",
            zh: "子进程退出后会一直是僵尸，直到父进程调用 waitpid(2)。std 的 `Child` 被 drop 时不会等待：在检查点之前对每个 worker 调用 `worker.wait()`（Python 的 `p.join()`）。",
        },
        check: Check {
            any_order: &["worker 0: done", "worker 1: done", "worker 2: done"],
            lines: &["== checkpoint ==", "main: still serving, no zombies"],
            checkpoint_no_children: true,
            ..BASE
        },
    },
    Exercise {
        name: "process_orphan",
        member: "process",
        title: Text {
            en: "do not leave before your child is done",
            zh: "子进程结束前父进程不要先走",
        },
        expected: Text {
            en: "the backup prints `backup: finished` before main prints `main: bye`, and no process is left when main returns",
            zh: "备份进程先打印 `backup: finished`，然后 main 才打印 `main: bye`；main 返回时不留下任何进程",
        },
        hint: Text {
            en: "Returning from main does not wait for children: the backup becomes an orphan. Wait for it (`backup.wait()`, Python's `p.join()`) before saying bye.",
            zh: "从 main 返回并不会等待子进程：备份进程成了孤儿。在说 bye 之前等它结束（`backup.wait()`，即 Python 的 `p.join()`）。",
        },
        check: Check {
            lines: &["backup: finished", "main: bye"],
            ..BASE
        },
    },
    Exercise {
        name: "pipe_eof",
        member: "pipe",
        title: Text {
            en: "EOF comes only when every write end is closed",
            zh: "所有写端都关闭后读端才有 EOF",
        },
        expected: Text {
            en: "the parent prints the three greetings, then `parent: EOF, every writer is gone`, and holds no pipe at the checkpoint",
            zh: "父进程打印三句问候，然后打印 `parent: EOF, every writer is gone`，到检查点时不再持有任何管道",
        },
        hint: Text {
            en: "fork copies every descriptor, and the parent still has its own `writer`. read(2) returns EOF only when no write end is open anywhere: `drop(writer)` in the parent before reading.",
            zh: "fork 复制所有文件描述符，父进程自己还拿着 `writer`。只有所有写端都关闭了 read(2) 才返回 EOF：读之前在父进程里 `drop(writer)`。",
        },
        check: Check {
            any_order: &["hello! Tom", "hello! Jerry", "hello! Spike"],
            lines: &["parent: EOF, every writer is gone", "== checkpoint =="],
            checkpoint_no_fds: true,
            ..BASE
        },
    },
    Exercise {
        name: "pipe_full",
        member: "pipe",
        title: Text {
            en: "drain the pipe before you join the writer",
            zh: "先读空管道，再 join 写进程",
        },
        expected: Text {
            en: "`received 1048576 bytes` and `writer exited: true`, well within the time limit",
            zh: "在时限内打印 `received 1048576 bytes` 和 `writer exited: true`",
        },
        hint: Text {
            en: "A pipe holds 64 KiB. The writer blocks in write(2) until someone reads, and the parent blocks in join until the writer exits. Read to EOF first, then join.",
            zh: "管道只能容纳 64 KiB。写进程在 write(2) 里阻塞，等有人来读；父进程在 join 里阻塞，等写进程退出。先读到 EOF，再 join。",
        },
        check: Check {
            lines: &["received 1048576 bytes", "writer exited: true"],
            ..BASE
        },
    },
    Exercise {
        name: "queue_sentinel",
        member: "queue",
        title: Text {
            en: "a queue has no EOF: send a sentinel",
            zh: "队列没有 EOF：发送结束标记",
        },
        expected: Text {
            en: "the consumer prints job 1..5 then `consumer: no more jobs` and the program ends; no queue name is left in /dev/mqueue",
            zh: "消费者打印 job 1..5，然后打印 `consumer: no more jobs`，程序结束；/dev/mqueue 里不留下队列名",
        },
        hint: Text {
            en: "mq_receive on an empty queue waits forever: a message queue never reports EOF. Let the producer send a sentinel after the last job (an empty message, Python's `q.put(None)`) and break out of the loop when you receive it.",
            zh: "空队列上的 mq_receive 会一直等：消息队列不会报告 EOF。让生产者在最后一个任务后发送一个结束标记（空消息，即 Python 的 `q.put(None)`），消费者收到它就跳出循环。",
        },
        check: Check {
            lines: &[
                "consumer: job 1",
                "consumer: job 2",
                "consumer: job 3",
                "consumer: job 4",
                "consumer: job 5",
                "consumer: no more jobs",
            ],
            ..BASE
        },
    },
    Exercise {
        name: "queue_blocking_get",
        member: "queue",
        title: Text {
            en: "a blocking get, not a polling loop",
            zh: "阻塞 get，而不是轮询",
        },
        expected: Text {
            en: "while the queue is empty the consumer sleeps in the kernel (no wake-ups, no CPU); then it prints job 1..3 and `consumer: done`",
            zh: "队列为空时消费者在内核里睡眠（不被唤醒、不占 CPU）；之后打印 job 1..3 和 `consumer: done`",
        },
        hint: Text {
            en: "Drop O_NONBLOCK from mq_open and the EAGAIN/sleep branch: a plain `mq_receive` blocks until a message arrives (Python's `q.get()` instead of `q.get_nowait()` in a loop).",
            zh: "去掉 mq_open 的 O_NONBLOCK 和 EAGAIN/sleep 分支：普通的 `mq_receive` 会阻塞到有消息为止（用 Python 的 `q.get()`，而不是循环里的 `q.get_nowait()`）。",
        },
        check: Check {
            lines: &[
                "consumer: job 1",
                "consumer: job 2",
                "consumer: job 3",
                "consumer: done",
            ],
            idle: true,
            ..BASE
        },
    },
    Exercise {
        name: "shm_lost_update",
        member: "shared-mem",
        title: Text {
            en: "read-modify-write on shared memory needs the lock",
            zh: "共享内存上的读-改-写需要加锁",
        },
        expected: Text {
            en: "`balance: 1100` on every run (1000 + 20 x 10 - 20 x 5)",
            zh: "每次运行都是 `balance: 1100`（1000 + 20 x 10 - 20 x 5）",
        },
        hint: Text {
            en: "Both processes read the same old balance while the other is still counting notes, then one write overwrites the other. Hold `account.lock.acquire()` across the read, the pause and the write (Python: `with money.get_lock():`).",
            zh: "两个进程在对方还在数钱时读到了同一个旧余额，随后一次写入覆盖了另一次。在读、停顿、写的整个过程中持有 `account.lock.acquire()`（Python 的 `with money.get_lock():`）。",
        },
        check: Check {
            runs: 3,
            lines: &["balance: 1100"],
            ..BASE
        },
    },
    Exercise {
        name: "shm_wait_flag",
        member: "shared-mem",
        title: Text {
            en: "wait for a shared flag on a futex, not in a sleep loop",
            zh: "用 futex 等待共享标志，而不是 sleep 循环",
        },
        expected: Text {
            en: "until the order comes the cook sleeps in the kernel (no wake-ups, no CPU); then `cook: got order 7` and `waiter: served`",
            zh: "订单到来之前厨师在内核里睡眠（不被唤醒、不占 CPU）；之后打印 `cook: got order 7` 和 `waiter: served`",
        },
        hint: Text {
            en: "Replace the loop with `kitchen.order_placed.wait_until(|| kitchen.order.load(SeqCst) != 0, None)` and ring the bell after writing the order: `kitchen.order_placed.notify()`.",
            zh: "把循环换成 `kitchen.order_placed.wait_until(|| kitchen.order.load(SeqCst) != 0, None)`，并在写入订单后敲铃：`kitchen.order_placed.notify()`。",
        },
        check: Check {
            lines: &["cook: got order 7", "waiter: served"],
            idle: true,
            ..BASE
        },
    },
    Exercise {
        name: "threads_guard_dropped",
        member: "threads",
        title: Text {
            en: "hold one lock guard across the read and the write",
            zh: "读和写在同一个锁守卫内完成",
        },
        expected: Text {
            en: "`sold: 10` and `left: 0` on every run: no ticket sold twice",
            zh: "每次运行都是 `sold: 10` 和 `left: 0`：没有一张票被卖两次",
        },
        hint: Text {
            en: "`*tickets.lock().unwrap()` unlocks at the end of the statement: the guard is a temporary. Keep one guard, `let mut left = tickets.lock().unwrap();`, for the check, the pause and the `*left -= 1`.",
            zh: "`*tickets.lock().unwrap()` 在语句结束时就解锁了：守卫是个临时值。用一个守卫 `let mut left = tickets.lock().unwrap();` 覆盖检查、停顿和 `*left -= 1`。",
        },
        check: Check {
            runs: 3,
            lines: &["sold: 10", "left: 0"],
            ..BASE
        },
    },
    Exercise {
        name: "threads_fork_after_thread",
        member: "threads",
        title: Text {
            en: "fork first, start threads after",
            zh: "先 fork，后启动线程",
        },
        expected: Text {
            en: "both workers print `worker N: done`, the progress thread ticks, `main: all done`, exit status 0",
            zh: "两个 worker 都打印 `worker N: done`，进度线程打点，最后 `main: all done`，退出码 0",
        },
        hint: Text {
            en: "After fork only the forking thread exists in the child; a lock the progress thread held would stay locked there forever, so `common::spawn` refuses. Spawn the worker processes before starting the thread.",
            zh: "fork 之后子进程里只有调用 fork 的那个线程；进度线程持有的锁在子进程里会永远锁着，所以 `common::spawn` 拒绝 fork。先创建 worker 进程，再启动线程。",
        },
        check: Check {
            any_order: &[
                "worker 0: done",
                "worker 1: done",
                "progress: tick 0",
                "progress: tick 2",
            ],
            lines: &["main: all done"],
            ..BASE
        },
    },
    Exercise {
        name: "prodcons_sender_kept",
        member: "prodcons",
        title: Text {
            en: "the channel closes when the last sender is dropped",
            zh: "最后一个发送端 drop 后通道才关闭",
        },
        expected: Text {
            en: "both consumers end (`consumer N: done`) and `consumed: 10` is printed",
            zh: "两个消费者都结束（`consumer N: done`），并打印 `consumed: 10`",
        },
        hint: Text {
            en: "`recv()` returns `Err` only when every `Sender` is gone. The producers drop their clones; main still holds `tx`. `drop(tx)` once the producers have their clones.",
            zh: "只有所有 `Sender` 都没了，`recv()` 才返回 `Err`。生产者会 drop 自己的克隆，但 main 还拿着 `tx`。生产者拿到克隆后就 `drop(tx)`。",
        },
        check: Check {
            any_order: &["consumer 0: done", "consumer 1: done"],
            lines: &["consumed: 10"],
            ..BASE
        },
    },
    Exercise {
        name: "prodcons_lost_wakeup",
        member: "prodcons",
        title: Text {
            en: "whoever makes room wakes whoever waits for room",
            zh: "腾出空位的一方要唤醒等空位的一方",
        },
        expected: Text {
            en: "all ten items go through a queue of two: `sum: 55`",
            zh: "十个元素都通过容量为 2 的队列：`sum: 55`",
        },
        hint: Text {
            en: "`put` waits on `not_full` when the queue is full, but `get` never rings it: the producer sleeps forever. After `pop_front`, call `self.not_full.notify_one()`.",
            zh: "队列满时 `put` 在 `not_full` 上等待，但 `get` 从不通知它：生产者永远睡着。在 `pop_front` 之后调用 `self.not_full.notify_one()`。",
        },
        check: Check {
            lines: &["sum: 55"],
            ..BASE
        },
    },
    Exercise {
        name: "pool_lost_failure",
        member: "pool",
        title: Text {
            en: "a failed task must fail the map",
            zh: "任务失败必须让 map 失败",
        },
        expected: Text {
            en: "exit status 1 with an error naming the failed worker (`panicked: bad input 7`), and no `sum of squares` line",
            zh: "退出码 1，错误信息指出失败的 worker（`panicked: bad input 7`），并且不打印 `sum of squares`",
        },
        hint: Text {
            en: "`join` only reaps; the verdict is in the child: after `worker.join()?`, `if let Some(how) = worker.failure() { anyhow::bail!(\"a task failed: {how}\") }` (Python: call `.get()` on every AsyncResult).",
            zh: "`join` 只负责回收；失败信息在子进程那里：`worker.join()?` 之后，`if let Some(how) = worker.failure() { anyhow::bail!(\"a task failed: {how}\") }`（Python：对每个 AsyncResult 调用 `.get()`）。",
        },
        check: Check {
            exit_code: 1,
            absent: &["sum of squares"],
            stderr_has: &["panicked: bad input 7"],
            ..BASE
        },
    },
    Exercise {
        name: "pool_map_order",
        member: "pool",
        title: Text {
            en: "map returns results in the order of its inputs",
            zh: "map 的结果按输入顺序返回",
        },
        expected: Text {
            en: "`results: [1, 4, 9, 16, 25, 36, 49, 64]` although the workers finish out of order",
            zh: "即使 worker 完成的顺序是乱的，也打印 `results: [1, 4, 9, 16, 25, 36, 49, 64]`",
        },
        hint: Text {
            en: "Each line carries the input's index. Make `results` a vector of 8 slots (`vec![0; inputs.len()]`) and put each value at its index instead of pushing it.",
            zh: "每一行都带着输入的下标。让 `results` 有 8 个位置（`vec![0; inputs.len()]`），把每个值放到它的下标处，而不是 push 到末尾。",
        },
        check: Check {
            lines: &["results: [1, 4, 9, 16, 25, 36, 49, 64]"],
            ..BASE
        },
    },
    Exercise {
        name: "ipc_signal_wait",
        member: "ipc",
        title: Text {
            en: "wait for a signal by blocking, not polling",
            zh: "阻塞等待信号，而不是轮询",
        },
        expected: Text {
            en: "until SIGUSR1 arrives the waiter sleeps in the kernel (no wake-ups, no CPU); then `got SIGUSR1`",
            zh: "SIGUSR1 到来之前等待者在内核里睡眠（不被唤醒、不占 CPU）；之后打印 `got SIGUSR1`",
        },
        hint: Text {
            en: "Open the signalfd without SFD_NONBLOCK: then `signals.read_signal()` blocks in read(2) until the signal is pending. (`mask.wait()`, i.e. sigwait, works too.)",
            zh: "打开 signalfd 时不要 SFD_NONBLOCK：这样 `signals.read_signal()` 会在 read(2) 里阻塞，直到信号到来。（`mask.wait()`，即 sigwait，也可以。）",
        },
        check: Check {
            lines: &["got SIGUSR1"],
            idle: true,
            ..BASE
        },
    },
    Exercise {
        name: "ipc_socket_shutdown",
        member: "ipc",
        title: Text {
            en: "shutdown(Write) tells the peer you are done",
            zh: "shutdown(Write) 告诉对方你说完了",
        },
        expected: Text {
            en: "`reply: HELLO SERVER`, well within the time limit",
            zh: "在时限内打印 `reply: HELLO SERVER`",
        },
        hint: Text {
            en: "The server reads to EOF, and the client must keep its socket to read the reply, so closing is not an option (the server process even holds a copy of it). `client.shutdown(Shutdown::Write)` after writing: EOF for the server, reading still open.",
            zh: "服务器读到 EOF 为止，而客户端还要用这个套接字读回复，不能关闭它（服务器进程手里甚至还有它的副本）。写完后 `client.shutdown(Shutdown::Write)`：服务器读到 EOF，客户端仍可读。",
        },
        check: Check {
            lines: &["reply: HELLO SERVER"],
            ..BASE
        },
    },
    Exercise {
        name: "ipc_semaphore_twice",
        member: "ipc",
        title: Text {
            en: "release a semaphore exactly once per acquire",
            zh: "每次 acquire 只 release 一次",
        },
        expected: Text {
            en: "`job 1: failed (the printer jammed)` and `most jobs at once: 2`: two licences, never three jobs at once",
            zh: "`job 1: failed (the printer jammed)` 和 `most jobs at once: 2`：两个许可，从不同时运行三个任务",
        },
        hint: Text {
            en: "On the failure path the licence goes back twice: once in the `if let Err` branch, once after it. Each extra release creates a licence. Keep only the release after the `if`.",
            zh: "失败路径上许可被还了两次：`if let Err` 分支里一次，分支之后又一次。每多 release 一次就多出一个许可。只保留 `if` 之后的那一次。",
        },
        check: Check {
            runs: 2,
            lines: &["job 1: failed (the printer jammed)", "most jobs at once: 2"],
            ..BASE
        },
    },
];

/// The exercise called `name`.
pub fn find(name: &str) -> Option<&'static Exercise> {
    ALL.iter().find(|e| e.name == name)
}
