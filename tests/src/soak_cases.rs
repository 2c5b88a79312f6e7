//! Soak cases of the members other than `process` (see [`crate::soak`]): for each subcommand, how
//! to draw its parameters and what its summary must satisfy. The checks restate each demo's
//! promise from outside, in terms of the flags the runner chose, so a demo that checks itself
//! wrongly is still caught.

use rand::Rng;

use crate::soak::util::{arg, expect, get_u64, s};
use crate::soak::Case;

/// The member cases.
pub fn member_cases() -> Vec<Case> {
    let mut v = pipe_cases();
    v.extend(shared_mem_cases());
    v.extend(queue_cases());
    v.extend(threads_cases());
    v.extend(pool_cases());
    v.extend(prodcons_cases());
    v.extend(timing_cases());
    v.extend(ipc_cases());
    v
}

/// A positive finite number field.
fn positive(v: &serde_json::Value, k: &str) -> Result<f64, String> {
    v[k].as_f64()
        .filter(|x| x.is_finite() && *x > 0.0)
        .ok_or_else(|| format!("{k:?} is not a positive number"))
}

/// The demos that measure time. Their figures are not checked (tests assert no time), only what
/// holds whatever the machine does: every field there and sane, the emulated GIL never letting
/// two threads compute at once, each IO wait a voluntary switch.
fn timing_cases() -> Vec<Case> {
    vec![
        Case {
            demo: "process",
            name: "parallel",
            args: |r| vec![s("parallel"), s("--work-ms"), s(r.gen_range(1..=5))],
            check: |v, _| {
                positive(v, "one_cpu_ms")?;
                positive(v, "all_cpus_ms")?;
                positive(v, "speedup")?;
                expect(get_u64(v, "cpus")? >= 1, "cpus")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "process",
            name: "multiprogramming",
            args: |_| vec![s("multiprogramming"), s("--seconds"), s("0.05")],
            check: |v, _| {
                let io = &v["io_bound"];
                expect(
                    get_u64(io, "voluntary")? >= get_u64(io, "ios")?,
                    "a voluntary switch per IO",
                )?;
                let pinned = &v["resumed_elsewhere"]["pinned"];
                expect(
                    get_u64(pinned, "moved")? == 0,
                    "a child pinned to one CPU never resumes elsewhere",
                )?;
                let free = &v["resumed_elsewhere"]["free"];
                expect(
                    get_u64(free, "moved")? <= get_u64(free, "ios")?,
                    "at most one move per IO wait",
                )?;
                get_u64(&v["cpu_bound"], "involuntary").map(|_| ())
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "threads",
            name: "gil",
            args: |r| {
                vec![
                    s("gil"),
                    s("--threads"),
                    s(r.gen_range(1..=4)),
                    s("--work"),
                    s(r.gen_range(1..=3)),
                    s("--io-ops"),
                    s(r.gen_range(1..=3)),
                ]
            },
            check: |v, _| {
                let cpu = &v["cpu"];
                for k in ["serial_ms", "threads_ms", "gil_threads_ms", "processes_ms"] {
                    positive(cpu, k)?;
                }
                expect(
                    cpu["gil_max_concurrent"] == 1,
                    "one thread at a time under the GIL",
                )?;
                for k in ["serial_ms", "gil_threads_ms"] {
                    v["io"][k].as_f64().ok_or(format!("io.{k}"))?;
                }
                expect(get_u64(v, "cpus")? >= 1, "cpus")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "threads",
            name: "spawn-cost",
            args: |r| {
                vec![
                    s("spawn-cost"),
                    s("--count"),
                    s(r.gen_range(1..=20)),
                    s("--python-count"),
                    s(r.gen_range(0..=2)),
                ]
            },
            check: |v, _| {
                let (p, t, ratio) = (
                    positive(v, "process_us")?,
                    positive(v, "thread_us")?,
                    positive(v, "ratio")?,
                );
                expect(
                    (ratio - p / t).abs() <= 1e-6 * ratio.max(1.0),
                    "ratio = process / thread",
                )
            },
            code: 0,
            fault: false,
        },
    ]
}

/// The JSON array under `k` as u64s (missing or non-numeric entries are an error).
fn u64s(v: &serde_json::Value, k: &str) -> Result<Vec<u64>, String> {
    v[k].as_array()
        .ok_or_else(|| format!("no list {k:?}"))?
        .iter()
        .map(|x| {
            x.as_u64()
                .ok_or_else(|| format!("{k:?} holds a non-number"))
        })
        .collect()
}

/// The promise of both counter races (`shared-mem race`, `threads race`): `workers` each add 1
/// `rounds` times; the total never gains; a lock or an atomic loses nothing; the forced schedule
/// loses exactly `(N-1) x rounds`; any other unsync run loses whatever it loses.
fn race_invariant(v: &serde_json::Value, a: &[String], workers: &str) -> Result<(), String> {
    let n: u64 = arg(a, workers).unwrap_or(0);
    let rounds: u64 = arg(a, "--rounds").unwrap_or(0);
    let mode: String = arg(a, "--mode").unwrap_or_default();
    let forced = arg::<String>(a, "--schedule").as_deref() == Some("forced");
    let (exp, fin, lost) = (
        get_u64(v, "expected")?,
        get_u64(v, "final")?,
        get_u64(v, "lost")?,
    );
    expect(exp == n * rounds, "expected = workers x rounds")?;
    expect(
        fin <= exp && lost == exp - fin,
        "never gains; lost = expected - final",
    )?;
    if mode != "unsync" {
        expect(lost == 0, "exact with a lock, a mutex or an atomic")
    } else if forced {
        expect(
            lost == (n - 1) * rounds,
            "forced: exactly (N-1) x rounds lost",
        )
    } else {
        Ok(())
    }
}

/// `xs` is a permutation of `0..n`.
fn is_permutation(mut xs: Vec<u64>, n: u64) -> bool {
    xs.sort_unstable();
    xs == (0..n).collect::<Vec<_>>()
}

fn pipe_cases() -> Vec<Case> {
    vec![
        Case {
            demo: "pipe",
            name: "greet",
            args: |r| {
                let n = r.gen_range(1..=64);
                let names: Vec<String> = (0..n).map(|i| format!("kid{i}")).collect();
                vec![s("greet"), s("--names"), names.join(",")]
            },
            check: |v, a| {
                let names: Vec<String> = arg::<String>(a, "--names")
                    .unwrap_or_default()
                    .split(',')
                    .map(|n| format!("hello! K{}", &n[1..]))
                    .collect();
                let mut got: Vec<String> = v["messages"]
                    .as_array()
                    .ok_or("no messages")?
                    .iter()
                    .filter_map(|m| m.as_str().map(String::from))
                    .collect();
                got.sort();
                let mut want = names;
                want.sort();
                expect(got == want, "each greeting exactly once")?;
                let names = |k: &str| -> Vec<String> {
                    v[k].as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|n| n.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let (start, arrival) = (names("start_order"), names("arrival_order"));
                let (mut a, mut b) = (start.clone(), arrival.clone());
                a.sort();
                b.sort();
                expect(
                    a == b && a.len() == want.len(),
                    "arrival order is a permutation of start order",
                )?;
                expect(
                    v["in_start_order"] == (start == arrival),
                    "in_start_order says whether they match",
                )?;
                expect(get_u64(v, "count")? == want.len() as u64, "count")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pipe",
            name: "simplex",
            args: |r| {
                let mut a = vec![
                    s("simplex"),
                    s("--writers"),
                    s(r.gen_range(1..=16)),
                    s("--messages"),
                    s(r.gen_range(1..=50)),
                ];
                if r.gen_bool(0.25) {
                    a.extend([s("--forget-close"), s("--timeout-ms"), s("20")]);
                }
                a
            },
            check: |v, a| {
                let w: u64 = arg(a, "--writers").unwrap_or(0);
                let m: u64 = arg(a, "--messages").unwrap_or(0);
                expect(get_u64(v, "count")? == w * m, "every line once")?;
                expect(v["in_order_per_writer"] == true, "order per writer")?;
                let wrong = v["wrong_end"].as_array().ok_or("no wrong_end")?;
                expect(
                    wrong.len() == 2 && wrong.iter().all(|w| w["refused"] == true),
                    "both wrong-end calls refused",
                )?;
                let forgot = a.iter().any(|x| x == "--forget-close");
                expect(v["eof"] == !forgot, "EOF iff every write end was closed")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pipe",
            name: "atomic",
            args: |r| {
                vec![
                    s("atomic"),
                    s("--writers"),
                    s(r.gen_range(2..=6)),
                    s("--messages"),
                    s(r.gen_range(1..=40)),
                    s("--small"),
                    s(r.gen_range(16..=4096)),
                    s("--large"),
                    s(r.gen_range(4097..=200_000)),
                ]
            },
            check: |v, a| {
                let total = arg::<u64>(a, "--writers").unwrap_or(0)
                    * arg::<u64>(a, "--messages").unwrap_or(0);
                expect(
                    get_u64(&v["small"], "torn")? == 0,
                    "a write <= PIPE_BUF tore",
                )?;
                for k in ["small", "large"] {
                    let sum = get_u64(&v[k], "intact")? + get_u64(&v[k], "torn")?;
                    expect(sum == total, format!("{k}: intact + torn == records"))?;
                    let pairs = get_u64(&v[k], "intact_pairs")?;
                    expect(
                        get_u64(&v[k], "switches")? <= pairs
                            && pairs <= get_u64(&v[k], "intact")?.saturating_sub(1),
                        format!("{k}: switches only between neighbouring intact records"),
                    )?;
                }
                expect(
                    get_u64(&v["small"], "intact_pairs")? == total - 1,
                    "small: every neighbouring pair intact",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pipe",
            name: "duplex",
            args: |r| {
                vec![
                    s("duplex"),
                    s("--rounds"),
                    s(r.gen_range(1..=300)),
                    s("--size"),
                    // Both sides of the tuned step's 8 KiB read-past-the-buffer path, and of the
                    // plain step's 16 KiB one-write limit; debug builds make bytes slow.
                    s(r.gen_range(0..=20_000)),
                    s("--connection"),
                    s(if r.gen_bool(0.5) { "plain" } else { "tuned" }),
                ]
            },
            check: |v, a| {
                expect(
                    get_u64(v, "rounds")? == arg::<u64>(a, "--rounds").unwrap_or(0),
                    "rounds",
                )?;
                expect(
                    v["connection"].as_str() == arg::<String>(a, "--connection").as_deref(),
                    "the step asked for",
                )?;
                expect(get_u64(v, "mismatches")? == 0, "every reply right")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pipe",
            name: "lifetime",
            args: |_| vec![s("lifetime")],
            check: |v, _| {
                for k in [
                    "same_inode",
                    "alive_after_creator",
                    "eof_after",
                    "gone_after_last_close",
                ] {
                    expect(v[k] == true, k)?;
                }
                let creator = get_u64(v, "creator_pid")?;
                expect(
                    v["read_after_creator_exit"].as_str()
                        == Some(&format!(
                            "written by the creator (pid {creator}) before it exited"
                        )),
                    "the dead creator's message read",
                )
            },
            code: 0,
            fault: false,
        },
    ]
}

fn shared_mem_cases() -> Vec<Case> {
    const MODES: [&str; 3] = ["unsync", "atomic", "locked"];
    vec![
        Case {
            demo: "shared-mem",
            name: "balance",
            args: |r| {
                vec![
                    s("balance"),
                    s("--mode"),
                    s(MODES[r.gen_range(0..3)]),
                    s("--iterations"),
                    s(r.gen_range(1..=3000)),
                ]
            },
            check: |v, a| {
                let exact = arg::<String>(a, "--mode").is_some_and(|m| m != "unsync");
                let fin = v["final"].as_i64().ok_or("final")?;
                let exp = v["expected"].as_i64().ok_or("expected")?;
                expect(v["start"] == 5000, "starts at 5000")?;
                let sums = v["boy_sum"].as_i64().unwrap_or(0) + v["girl_sum"].as_i64().unwrap_or(0);
                expect(
                    exp == 5000 + sums,
                    "expected = start + both children's sums",
                )?;
                expect(!exact || fin == exp, "exact in atomic and locked modes")?;
                expect(
                    (fin == exp) == (v["lost_amount"] == 0),
                    "lost_amount accounts for it",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "shared-mem",
            name: "race",
            args: |r| {
                let forced = r.gen_bool(0.5);
                let n = r.gen_range(1..=8u64);
                let rounds = if forced {
                    r.gen_range(1..=2000)
                } else {
                    r.gen_range(1..=100_000)
                };
                vec![
                    s("race"),
                    s("--mode"),
                    s(MODES[r.gen_range(0..3)]),
                    s("--schedule"),
                    s(if forced { "forced" } else { "free" }),
                    s("--processes"),
                    s(n),
                    s("--rounds"),
                    s(rounds),
                ]
            },
            check: |v, a| race_invariant(v, a, "--processes"),
            code: 0,
            fault: false,
        },
        Case {
            demo: "shared-mem",
            name: "overwrite",
            args: |r| {
                vec![
                    s("overwrite"),
                    s("--messages"),
                    s(r.gen_range(1..=100_000)),
                    s("--ring-capacity"),
                    s(r.gen_range(1..=64)),
                ]
            },
            check: |v, a| {
                let n: u64 = arg(a, "--messages").unwrap_or(0);
                expect(get_u64(v, "written")? == n, "written")?;
                expect(
                    get_u64(v, "last_seen")? == n,
                    "the reader ends on the last value",
                )?;
                expect(
                    get_u64(v, "seen")? + get_u64(v, "missed")? == n,
                    "seen + missed",
                )?;
                let ring = &v["ring"];
                expect(
                    get_u64(ring, "written")? == n
                        && get_u64(ring, "received")? == n
                        && get_u64(ring, "missed")? == 0
                        && ring["in_order"] == true,
                    "the ring delivers every message, in order",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "shared-mem",
            name: "address",
            args: |_| vec![s("address")],
            check: |v, _| {
                let b = v["b_addresses"].as_array().ok_or("b_addresses")?;
                expect(
                    b.len() == 2 && b[0] != b[1],
                    "B's two views at two addresses",
                )?;
                expect(get_u64(v, "distinct_addresses")? >= 2, "distinct addresses")?;
                expect(
                    v["a_read"] == v["b_pid"] && v["b_read"][0] == v["a_pid"],
                    "each read the other's write",
                )?;
                expect(v["name_left"] == false, "nothing left in /dev/shm")
            },
            code: 0,
            fault: false,
        },
    ]
}

/// A random `queue powers` shape with at least `min_count` messages.
fn powers_args(r: &mut rand::rngs::StdRng, min_count: u64) -> Vec<String> {
    let count = r.gen_range(min_count..=3000u64);
    vec![
        s("powers"),
        s("--count"),
        s(count),
        s("--producers"),
        s(r.gen_range(1..=4u64.min(count))),
        s("--consumers"),
        s(r.gen_range(1..=4)),
        s("--capacity"),
        s(r.gen_range(1..=64)),
    ]
}

fn queue_cases() -> Vec<Case> {
    vec![
        Case {
            demo: "queue",
            name: "powers",
            args: |r| powers_args(r, 1),
            check: |v, a| {
                let n: u64 = arg(a, "--count").unwrap_or(0);
                expect(get_u64(v, "sent")? == n, "sent")?;
                expect(
                    get_u64(v, "lost")? == 0 && get_u64(v, "duplicated")? == 0,
                    "exactly once",
                )?;
                expect(v["in_order"] == true, "FIFO per producer")?;
                let got = v["received"].as_array().map_or(0, Vec::len) as u64;
                expect(got == n, "received every message")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "queue",
            name: "producer-killed-mid-message",
            args: |r| {
                let mut a = powers_args(r, 2);
                let count: u64 = arg(&a, "--count").unwrap_or(2);
                a.extend([s("--kill-producer-mid-message"), s(r.gen_range(0..count))]);
                a
            },
            check: |v, _| {
                expect(
                    get_u64(v, "lost")? == 0 && get_u64(v, "duplicated")? == 0,
                    "exactly once",
                )?;
                expect(v["in_order"] == true, "FIFO per producer")?;
                let got = v["received"].as_array().map_or(0, Vec::len) as u64;
                expect(got == get_u64(v, "sent")?, "all that was sent, received")
            },
            code: 1,
            fault: true,
        },
        Case {
            demo: "queue",
            name: "timeouts",
            args: |r| {
                vec![
                    s("timeouts"),
                    s("--timeout"),
                    s(["0", "0.01"][r.gen_range(0..2)]),
                ]
            },
            check: |v, _| {
                expect(
                    v["get_timed_out"] == true && v["put_timed_out"] == true,
                    "Empty and Full",
                )?;
                // --timeout is scaled by --time-scale, like every delay.
                let want = v["timeout_asked_s"].as_f64().unwrap_or(-1.0)
                    * v["time_scale"].as_f64().unwrap_or(-1.0)
                    * 1000.0;
                let ran = v["timeout_ms"].as_f64().unwrap_or(-1.0);
                expect(
                    (ran - want).abs() < 0.01,
                    "the timeout that ran is the scaled one",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "queue",
            name: "posix-mq",
            args: |r| vec![s("posix-mq"), s("--messages"), s(r.gen_range(1..=30))],
            check: |v, a| {
                let n = arg::<usize>(a, "--messages").unwrap_or(0);
                expect(
                    v["received"].as_array().map(Vec::len) == Some(n),
                    "every message",
                )?;
                expect(v["priority_order_ok"] == true, "highest priority first")?;
                expect(v["max_messages"].as_u64().is_some(), "mq_getattr")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "queue",
            name: "drain",
            args: |r| {
                vec![
                    s("drain"),
                    s("--bytes"),
                    s(r.gen_range(1..=200_000)),
                    s("--timeout"),
                    s("0.05"),
                ]
            },
            check: |v, a| {
                let bytes: u64 = arg(a, "--bytes").unwrap_or(0);
                let cap = get_u64(v, "pipe_capacity")?;
                expect(v["fixed_ok"] == true, "the right order works")?;
                expect(
                    v["deadlock_detected"] == (bytes > cap),
                    "deadlock exactly when the writer outgrows the pipe",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "queue",
            name: "polling",
            args: |r| vec![s("polling"), s("--messages"), s(r.gen_range(1..=200))],
            check: |v, a| {
                let n: u64 = arg(a, "--messages").unwrap_or(0);
                expect(
                    get_u64(v, "polling_received")? == n && get_u64(v, "blocking_received")? == n,
                    "both consumers got every message",
                )
            },
            code: 0,
            fault: false,
        },
    ]
}

fn threads_cases() -> Vec<Case> {
    vec![
        Case {
            demo: "threads",
            name: "ids",
            args: |r| vec![s("ids"), s("--threads"), s(r.gen_range(1..=64))],
            check: |v, a| {
                let n: usize = arg(a, "--threads").unwrap_or(0);
                let mut tids = u64s(v, "tids")?;
                tids.sort_unstable();
                tids.dedup();
                expect(v["same_pid"] == true, "one pid")?;
                expect(tids.len() == n, "distinct tids, one per thread")?;
                expect(
                    v["pinned"]["ran_on"] == v["pinned"]["cpu"],
                    "the pinned thread last ran on its CPU",
                )?;
                let rows = v["lwp"].as_array().ok_or("no lwp rows")?;
                expect(rows.len() == n + 1, "one ps -L row per thread")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "threads",
            name: "race",
            args: |r| {
                let forced = r.gen_bool(0.5);
                vec![
                    s("race"),
                    s("--mode"),
                    s(["unsync", "mutex", "atomic"][r.gen_range(0..3)]),
                    s("--schedule"),
                    s(if forced { "forced" } else { "free" }),
                    s("--threads"),
                    s(r.gen_range(1..=8)),
                    s("--rounds"),
                    s(if forced {
                        r.gen_range(1..=500)
                    } else {
                        r.gen_range(1..=100_000)
                    }),
                ]
            },
            check: |v, a| race_invariant(v, a, "--threads"),
            code: 0,
            fault: false,
        },
        Case {
            demo: "threads",
            name: "sync",
            args: |r| {
                vec![
                    s("sync"),
                    s("--threads"),
                    s(r.gen_range(1..=16)),
                    s("--rounds"),
                    s(r.gen_range(1..=50)),
                ]
            },
            check: |v, _| {
                expect(
                    v["in_order"] == true && v["order"] == v["expected_order"],
                    "turns in order",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "threads",
            name: "main-exit",
            args: |r| {
                vec![
                    s("main-exit"),
                    s("--detached"),
                    s(r.gen_range(1..=16)),
                    s("--joined"),
                    s(r.gen_range(0..=16)),
                ]
            },
            check: |v, a| {
                let joined: u64 = arg(a, "--joined").unwrap_or(0);
                expect(
                    get_u64(v, "finished_joined")? == joined,
                    "joined threads finish",
                )?;
                expect(
                    get_u64(v, "finished_detached")? == 0,
                    "detached threads are cut off",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "threads",
            name: "shared",
            args: |r| vec![s("shared"), s("--threads"), s(r.gen_range(1..=64))],
            check: |v, _| {
                expect(v["every_thread_saw_all"] == true, "threads share memory")?;
                expect(
                    v["thread_value_seen_by_main"] == 999,
                    "a thread's write reaches main",
                )?;
                expect(
                    v["process_value_seen_by_parent"] == 100,
                    "a child's write does not",
                )
            },
            code: 0,
            fault: false,
        },
    ]
}

fn pool_cases() -> Vec<Case> {
    vec![
        Case {
            demo: "pool",
            name: "basic",
            args: |r| {
                vec![
                    s("basic"),
                    s("--tasks"),
                    s(r.gen_range(1..=200)),
                    s("--workers"),
                    s(r.gen_range(1..=6)),
                ]
            },
            check: |v, a| {
                let n: u64 = arg(a, "--tasks").unwrap_or(0);
                let w: u64 = arg(a, "--workers").unwrap_or(0);
                let squares: Vec<u64> = (0..n).map(|i| i * i).collect();
                expect(u64s(v, "results")? == squares, "results in order")?;
                expect(
                    get_u64(v, "distinct_pids")? <= w,
                    "no more pids than workers",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pool",
            name: "map",
            args: |r| {
                let mut a = vec![
                    s("map"),
                    s("--items"),
                    s(r.gen_range(1..=3000)),
                    s("--workers"),
                    s(r.gen_range(1..=4)),
                ];
                if r.gen_bool(0.5) {
                    a.extend([s("--chunksize"), s(r.gen_range(1..=100))]);
                }
                a
            },
            check: |v, a| {
                let n: u64 = arg(a, "--items").unwrap_or(0);
                expect(v["in_order"] == true, "map keeps input order")?;
                if v["results_truncated"] != true {
                    let squares: Vec<u64> = (0..n).map(|i| i * i).collect();
                    expect(u64s(v, "results")? == squares, "map results")?;
                }
                // The demo runs imap_unordered only up to 1000 items (it shows their order).
                let unordered = u64s(v, "imap_unordered_order")?;
                expect(
                    n > 1000 || is_permutation(unordered, n),
                    "imap_unordered: each once",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pool",
            name: "crash",
            args: |r| {
                let tasks = r.gen_range(1..=20u64);
                vec![
                    s("crash"),
                    s("--tasks"),
                    s(tasks),
                    s("--crash-task"),
                    s(r.gen_range(0..tasks)),
                    s("--crash-kind"),
                    s([
                        "panic", "abort", "kill", "exit", "truncate", "take", "take-big",
                    ][r.gen_range(0..7)]),
                    s("--workers"),
                    s(r.gen_range(1..=4)),
                ]
            },
            check: |v, a| {
                let tasks: u64 = arg(a, "--tasks").unwrap_or(0);
                let crash: u64 = arg(a, "--crash-task").unwrap_or(0);
                let failed = v["failed"].as_array().ok_or("no failed list")?;
                expect(
                    failed.len() == 1 && failed[0]["task"] == crash,
                    "only the crashing task failed",
                )?;
                expect(
                    failed[0]["cause"].as_str().is_some_and(|c| !c.is_empty()),
                    "with its cause",
                )?;
                expect(
                    get_u64(v, "completed")? == tasks - 1,
                    "every other task completed",
                )
            },
            code: 1,
            fault: true,
        },
        Case {
            demo: "pool",
            name: "futures",
            args: |r| vec![s("futures"), s("--tasks"), s(r.gen_range(1..=100))],
            check: |v, a| {
                let n: u64 = arg(a, "--tasks").unwrap_or(0);
                let squares: Vec<u64> = (0..n).map(|i| i * i).collect();
                expect(u64s(v, "results")? == squares, "results")?;
                expect(
                    v["thread_pool"]["callbacks_on_worker_threads"] == true
                        && v["thread_pool"]["results"] == v["results"],
                    "thread pool: same results, callbacks on its worker threads",
                )?;
                expect(
                    is_permutation(u64s(v, "completion_order")?, n),
                    "each completes once",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pool",
            name: "reuse",
            args: |r| {
                let mut a = vec![
                    s("reuse"),
                    s("--tasks"),
                    s(r.gen_range(1..=100)),
                    s("--workers"),
                    s(r.gen_range(1..=4)),
                ];
                if r.gen_bool(0.3) {
                    a.extend([s("--max-tasks-per-child"), s(r.gen_range(1..=10))]);
                }
                a
            },
            check: |v, a| {
                let n: u64 = arg(a, "--tasks").unwrap_or(0);
                let w: u64 = arg(a, "--workers").unwrap_or(0);
                expect(
                    get_u64(v, "process_per_task_pids")? == n,
                    "a process per task: N pids",
                )?;
                match arg::<u64>(a, "--max-tasks-per-child") {
                    None => expect(get_u64(v, "distinct_pids")? <= w, "at most K pids"),
                    Some(m) => expect(
                        get_u64(v, "distinct_pids")? <= w + n / m + 1,
                        "recycled workers",
                    ),
                }
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pool",
            name: "edges",
            args: |_| vec![s("edges")],
            check: |v, _| {
                let rules = v["rules"].as_array().ok_or("no rules")?;
                expect(rules.len() == 3, "three rules")?;
                expect(
                    rules
                        .iter()
                        .all(|r| r["we_do"].is_string() && r["python_says"].is_string()),
                    "each with python_says and we_do",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "pool",
            name: "sync-vs-async",
            args: |r| vec![s("sync-vs-async"), s("--tasks"), s(r.gen_range(1..=50))],
            check: |v, _| {
                expect(
                    v["apply_results"] == v["apply_async_results"],
                    "same values both ways",
                )?;
                expect(
                    v["get_timeout_timed_out"] == true && v["get_after_timeout"] == 70,
                    "get(timeout)",
                )
            },
            code: 0,
            fault: false,
        },
        // pool crawl: at --time-scale 0 the server answers at once; every way fetches every page.
        Case {
            demo: "pool",
            name: "crawl",
            args: |r| {
                vec![
                    s("crawl"),
                    s("--urls"),
                    s(r.gen_range(1..=100)),
                    s("--workers"),
                    s(r.gen_range(1..=8)),
                ]
            },
            check: |v, a| {
                let n: u64 = arg(a, "--urls").unwrap_or(0);
                for way in ["serial", "pool", "threads", "event_loop"] {
                    expect(
                        get_u64(&v["fetched"], way)? == n,
                        "every way fetched every page",
                    )?;
                }
                expect(get_u64(v, "urls")? == n, "urls")
            },
            code: 0,
            fault: false,
        },
    ]
}

/// Where prodcons runs: threads on step 1 (the monitor) or step 2 (the two-lock queue), or
/// processes.
fn prodcons_setting(r: &mut rand::rngs::StdRng) -> Vec<String> {
    match r.gen_range(0..3) {
        0 => vec![s("--mode"), s("threads")],
        1 => vec![s("--mode"), s("threads"), s("--queue"), s("two-lock")],
        _ => vec![s("--mode"), s("processes")],
    }
}

/// Shared draw for prodcons runs: any shape, any setting.
fn prodcons_args(r: &mut rand::rngs::StdRng) -> Vec<String> {
    let mut a = vec![s("run"), s("--quiet")];
    a.extend(prodcons_setting(r));
    a.extend([
        s("--producers"),
        s(r.gen_range(1..=8)),
        s("--consumers"),
        s(r.gen_range(1..=8)),
        s("--items"),
        s(r.gen_range(1..=2000)),
        s("--capacity"),
        s(r.gen_range(1..=64)),
    ]);
    a
}

/// The promise of every complete prodcons run, read from its own summary.
fn prodcons_exact(v: &serde_json::Value) -> Result<(), String> {
    expect(
        get_u64(v, "consumed")? == get_u64(v, "produced")?,
        "every item consumed",
    )?;
    expect(
        get_u64(v, "lost")? == 0 && get_u64(v, "duplicated")? == 0,
        "exactly once",
    )?;
    expect(v["per_producer_fifo"] == true, "FIFO per producer")?;
    expect(
        get_u64(v, "max_occupancy")? <= get_u64(v, "capacity")?,
        "occupancy within capacity",
    )
}

fn prodcons_cases() -> Vec<Case> {
    vec![
        Case {
            demo: "prodcons",
            name: "backpressure",
            args: |r| {
                let mut a = vec![s("backpressure"), s("--quiet")];
                a.extend(prodcons_setting(r));
                a
            },
            check: |v, _| prodcons_exact(v),
            code: 0,
            fault: false,
        },
        Case {
            demo: "prodcons",
            name: "starved",
            args: |r| {
                let mut a = vec![s("starved"), s("--quiet")];
                a.extend(prodcons_setting(r));
                a
            },
            check: |v, _| prodcons_exact(v),
            code: 0,
            fault: false,
        },
        Case {
            demo: "prodcons",
            name: "run",
            args: prodcons_args,
            check: |v, a| {
                let p: u64 = arg(a, "--producers").unwrap_or(0);
                let items: u64 = arg(a, "--items").unwrap_or(0);
                let cap: u64 = arg(a, "--capacity").unwrap_or(0);
                expect(get_u64(v, "produced")? == p * items, "produced")?;
                expect(get_u64(v, "consumed")? == p * items, "consumed every item")?;
                expect(
                    get_u64(v, "lost")? == 0 && get_u64(v, "duplicated")? == 0,
                    "exactly once",
                )?;
                expect(v["per_producer_fifo"] == true, "FIFO per producer")?;
                expect(
                    get_u64(v, "max_occupancy")? <= cap,
                    "occupancy within capacity",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "prodcons",
            name: "producer-panic",
            args: |r| {
                let mut a = prodcons_args(r);
                let p: u64 = arg(&a, "--producers").unwrap_or(1);
                let items: u64 = arg(&a, "--items").unwrap_or(1);
                a.extend([
                    s("--inject-panic"),
                    format!("producer:{}:{}", r.gen_range(1..=p), r.gen_range(0..items)),
                ]);
                a
            },
            check: |v, a| {
                // What the dead producer put goes through exactly once; nothing else is lost.
                let cap: u64 = arg(a, "--capacity").unwrap_or(0);
                expect(
                    get_u64(v, "lost")? == 0 && get_u64(v, "duplicated")? == 0,
                    "exactly once",
                )?;
                expect(
                    get_u64(v, "consumed")? == get_u64(v, "produced")?,
                    "all that was put, consumed",
                )?;
                expect(v["per_producer_fifo"] == true, "FIFO per producer")?;
                expect(
                    get_u64(v, "max_occupancy")? <= cap,
                    "occupancy within capacity",
                )?;
                expect(
                    v["failed"].as_array().map(Vec::len) == Some(1),
                    "one failure reported",
                )
            },
            code: 1,
            fault: true,
        },
        Case {
            demo: "prodcons",
            name: "producer-killed-mid-put",
            args: |r| {
                let mut a = prodcons_args(r);
                if let Some(m) = a.iter().position(|x| x == "--mode") {
                    a[m + 1] = s("processes");
                }
                // A thread cannot be killed alone: processes only, so no threads-mode queue.
                if let Some(q) = a.iter().position(|x| x == "--queue") {
                    a.drain(q..q + 2);
                }
                let p: u64 = arg(&a, "--producers").unwrap_or(1);
                let items: u64 = arg(&a, "--items").unwrap_or(1);
                a.extend([
                    s("--inject-kill-mid-put"),
                    format!("{}:{}", r.gen_range(1..=p), r.gen_range(0..items)),
                ]);
                a
            },
            check: |v, a| {
                let p: u64 = arg(a, "--producers").unwrap_or(0);
                let items: u64 = arg(a, "--items").unwrap_or(0);
                let at: u64 = arg::<String>(a, "--inject-kill-mid-put")
                    .and_then(|x| x.split(':').nth(1).and_then(|k| k.parse().ok()))
                    .unwrap_or(0);
                let expected = (p - 1) * items + at;
                expect(get_u64(v, "produced")? == expected, "produced")?;
                expect(
                    get_u64(v, "consumed")? == expected,
                    "consumed every put item",
                )?;
                expect(
                    get_u64(v, "lost")? == 0 && get_u64(v, "duplicated")? == 0,
                    "exactly once",
                )?;
                expect(v["per_producer_fifo"] == true, "FIFO per producer")
            },
            code: 1,
            fault: true,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// ipc (owner: the ipc helper)
// ---------------------------------------------------------------------------------------------

/// Mechanisms of `ipc compare` that must deliver every message.
const IPC_RELIABLE: [&str; 7] = [
    "pipe",
    "queue (shm ring)",
    "POSIX mqueue",
    "signal SIGRTMIN",
    "semaphore + slot",
    "unix socket",
    "tcp 127.0.0.1",
];

fn ipc_cases() -> Vec<Case> {
    vec![
        Case {
            demo: "ipc",
            name: "compare",
            args: |r| {
                vec![
                    s("compare"),
                    s("--messages"),
                    s(r.gen_range(1..=2000)),
                    s("--rounds"),
                    s(r.gen_range(1..=50)),
                ]
            },
            check: |v, a| {
                let n: u64 = arg(a, "--messages").ok_or("--messages")?;
                let rows = v["mechanisms"].as_array().ok_or("mechanisms")?;
                expect(rows.len() == 9, "nine mechanisms")?;
                for m in rows {
                    let name = m["name"].as_str().ok_or("name")?;
                    let delivered = get_u64(m, "delivered")?;
                    expect(get_u64(m, "sent")? == n, format!("{name}: sent N"))?;
                    // A realtime signal is refused only past RLIMIT_SIGPENDING, far above 2000.
                    if IPC_RELIABLE.contains(&name) {
                        expect(delivered == n, format!("{name}: all delivered"))?;
                    } else {
                        expect(
                            (1..=n).contains(&delivered),
                            format!("{name}: 1..=N delivered"),
                        )?;
                    }
                }
                Ok(())
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "ipc",
            name: "signals",
            args: |r| vec![s("signals"), s("--count"), s(r.gen_range(1..=300))],
            check: |v, a| {
                let n: u64 = arg(a, "--count").ok_or("--count")?;
                expect(get_u64(v, "standard_received")? == 1, "one SIGUSR1")?;
                expect(get_u64(v, "realtime_received")? == n, "every SIGRTMIN")?;
                expect(v["realtime_in_order"] == true, "in order")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "ipc",
            name: "semaphore",
            args: |r| {
                vec![
                    s("semaphore"),
                    s("--permits"),
                    s(r.gen_range(1..=4)),
                    s("--processes"),
                    s(r.gen_range(1..=8)),
                ]
            },
            check: |v, a| {
                let permits: u64 = arg(a, "--permits").ok_or("--permits")?;
                let inside = get_u64(v, "max_inside")?;
                expect((1..=permits).contains(&inside), "at most `permits` inside")?;
                expect(v["leaked_permit_detected"] == true, "leak detected")?;
                expect(v["over_release_refused"] == true, "bounded refused")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "ipc",
            name: "socket",
            args: |r| {
                vec![
                    s("socket"),
                    s("--clients"),
                    s(r.gen_range(1..=6)),
                    s("--messages"),
                    s(r.gen_range(1..=200)),
                ]
            },
            check: |v, a| {
                let c: u64 = arg(a, "--clients").ok_or("--clients")?;
                let m: u64 = arg(a, "--messages").ok_or("--messages")?;
                expect(get_u64(v, "sent")? == (c + 1) * m, "sent")?;
                expect(get_u64(v, "received")? == (c + 1) * m, "received")?;
                expect(v["wrong_key_refused"] == true, "wrong key refused")?;
                expect(v["memfd_shared"] == true, "memfd shared")
            },
            code: 0,
            fault: false,
        },
    ]
}
