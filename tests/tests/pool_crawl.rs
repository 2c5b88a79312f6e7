//! Tests of `pool crawl` (note 000 进程池 point 3, the crawler; GIL 建议 "使用多种阻塞方案").
//!
//! Every run goes through the harness, which fails the test if any process of the run (the
//! server process, a pool worker) is left behind. Times are only checked where the server's
//! delay forces them: the serial row waits for every answer one after the other, and no row
//! has more than `workers` requests in flight, so each waits at least `ceil(urls / workers)`
//! delays. That the three concurrent rows beat the serial one follows from those bounds plus
//! a margin of `workers` times the delay, which no load on the machine eats up.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde_json::Value;
use tests::{cmd, start};

#[derive(Debug, Deserialize)]
struct Fetched {
    serial: u64,
    pool: u64,
    threads: u64,
    event_loop: u64,
}

#[derive(Debug, Deserialize)]
struct CrawlSummary {
    urls: u64,
    workers: u64,
    delay_ms: f64,
    serial_ms: f64,
    pool_ms: f64,
    threads_ms: f64,
    event_loop_ms: f64,
    fetched: Fetched,
}

#[test]
fn every_way_fetches_every_page_and_the_concurrent_ones_overlap_the_waits() {
    let run = cmd("pool", "crawl --urls 8 --workers 4 --delay-ms 100 --json");
    let s: CrawlSummary = run.ok_summary_as();
    run.check(
        s.urls == 8 && s.workers == 4 && s.delay_ms == 100.0,
        "the summary echoes the flags",
    );
    let f = &s.fetched;
    run.check(
        [f.serial, f.pool, f.threads, f.event_loop] == [8; 4],
        "every way fetched every page, with the right content",
    );
    // Forced by the server: 8 answers of 100 ms one after the other...
    run.check(s.serial_ms >= 800.0, "serial: at least urls x delay");
    // ...and at most 4 in flight at a time: at least ceil(8 / 4) = 2 delays.
    for (name, t) in [
        ("pool", s.pool_ms),
        ("threads", s.threads_ms),
        ("event loop", s.event_loop_ms),
    ] {
        run.check(
            t >= 200.0,
            &format!("{name}: at least ceil(urls/workers) x delay"),
        );
        run.check(t < s.serial_ms, &format!("{name}: faster than serial"));
    }
    let ways: Vec<String> = run
        .events_named("row")
        .iter()
        .map(|e| e["way"].as_str().unwrap_or("?").to_string())
        .collect();
    run.check(
        ways == ["serial", "pool", "threads", "event_loop"],
        "one row per way, in the order of the lesson",
    );
    let errata = run.events_named("errata");
    run.check(
        errata.len() == 1
            && errata[0]["workers"] == 4
            && errata[0]["cpu_count"].as_u64() >= Some(1),
        "the corrections of the notes are printed, with their figures",
    );
    let server = run.events_named("server");
    run.check(
        server.len() == 1
            && server[0]["addr"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "the server listens on the loopback address only",
    );
}

#[test]
fn workers_default_to_four_whatever_the_cpu_count() {
    let run = cmd("pool", "crawl --urls 5 --time-scale 0 --json");
    let s: CrawlSummary = run.ok_summary_as();
    run.check(s.workers == 4, "IO-bound: 4 workers unless told otherwise");
    run.check(s.delay_ms == 0.0, "--time-scale scales the delay");
    let f = &s.fetched;
    run.check(
        [f.serial, f.pool, f.threads, f.event_loop] == [5; 4],
        "every way fetched every page",
    );
}

#[test]
fn bad_input_exits_2_with_one_line_and_starts_nothing() {
    for (line, flag) in [
        ("crawl --urls 0", "--urls"),
        ("crawl --urls 1001", "--urls"),
        ("crawl --delay-ms 10001", "--delay-ms"),
        ("crawl --delay-ms -5", "--delay-ms"),
        ("crawl --workers 0", "--workers"),
        ("crawl --workers 65", "--workers"),
    ] {
        cmd("pool", line).expect_usage_error(&[flag]);
    }
}

/// Interrupted in the middle of a row (the pool's, then the threads'), the demo leaves no
/// process behind: Ctrl-C to the whole group, and SIGKILL of the parent alone, which only the
/// kernel's parent-death signal can turn into the server's end.
#[test]
fn an_interruption_mid_crawl_leaves_nothing_behind() {
    for (after, sig, group) in [
        ("serial", Signal::SIGINT, true),
        ("pool", Signal::SIGKILL, false),
    ] {
        let mut r = start(
            "pool",
            &["crawl", "--urls", "8", "--delay-ms", "150", "--json"],
        );
        r.wait_for(Duration::from_secs(30), |e: &Value| {
            e["event"] == "row" && e["way"] == after
        });
        if group {
            r.signal_group(sig);
        } else {
            r.signal(sig);
        }
        // finish() fails the test if the server or any worker is still there.
        let run = r.finish();
        if sig == Signal::SIGINT {
            run.expect_code(130).expect_one_error_line();
        }
    }
}

/// `--trace` on the crawl: the trace is valid, and every process that printed a JSON line (the
/// parent, the pool's workers, the server) has a named track.
#[test]
fn crawl_trace_names_every_process() {
    let file = tests::TempPath::new("crawl.json");
    let run = tests::cmd(
        "pool",
        &format!(
            "crawl --urls 4 --workers 2 --delay-ms 20 --json --trace {}",
            file.arg()
        ),
    );
    run.expect_code(0);
    let trace = tests::trace::Trace::load(&file.0, &run);
    trace.check_pids_match(&run);
    let names = trace.process_names();
    run.check(
        names.values().any(|n| n == "http server"),
        &format!("the server has its own track: {names:?}"),
    );
}
