//! `crawl`: the crawler the notes promise (000 进程池 point 3, "后期爬虫也会用到进程池.同时抓取和
//! 下载多个网络资源") and the GIL's third way out (000 GIL问题建议, "使用多种阻塞方案完成并发").
//!
//! A crawler spends its time *waiting*: for the connection, for the server to answer, for the
//! bytes to arrive. This demo starts a small HTTP server on `127.0.0.1` (port 0: the kernel
//! picks a free one) that answers every request after `--delay-ms`, then fetches `--urls` pages
//! from it four ways and prints, for each, the wall time, the CPU time and the pages fetched.
//!
//! The Python shape (runs as written, standard library only):
//!
//! ```python
//! import asyncio, os, time, urllib.request
//! from concurrent.futures import ThreadPoolExecutor
//! from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
//! from multiprocessing import Pool, Process
//!
//! class Slow(BaseHTTPRequestHandler):          # a thread per request, each answering late
//!     def do_GET(self):
//!         time.sleep(0.2)
//!         body = ("page at " + self.path).encode()
//!         self.send_response(200); self.send_header("Content-Length", str(len(body)))
//!         self.end_headers(); self.wfile.write(body)
//!     def log_message(self, *args): pass
//!
//! def fetch(url):                               # blocks; the GIL is released while it waits
//!     with urllib.request.urlopen(url) as r: return r.read()
//!
//! async def fetch_async(port, path, gate):      # asyncio has no HTTP client: aiohttp would do this
//!     async with gate:
//!         reader, writer = await asyncio.open_connection("127.0.0.1", port)
//!         writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
//!         answer = await reader.read()          # until the server closes the connection
//!         writer.close(); return answer.split(b"\r\n\r\n", 1)[1]
//!
//! async def crawl(port, paths):
//!     gate = asyncio.Semaphore(4)               # at most 4 in flight, as in the other rows
//!     return await asyncio.gather(*(fetch_async(port, p, gate) for p in paths))
//!
//! def serial(urls): return [fetch(u) for u in urls]
//! def process_pool(urls):
//!     with Pool(4) as pool: return pool.map(fetch, urls, chunksize=1)
//! def threads(urls):
//!     with ThreadPoolExecutor(4) as ex: return list(ex.map(fetch, urls))
//!
//! if __name__ == "__main__":
//!     server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)       # bound and listening now
//!     Process(target=server.serve_forever, daemon=True).start()  # serves in its own process
//!     server.server_close()                                      # the parent's copy of the socket
//!     port = server.server_address[1]
//!     paths = [f"/page/{i}" for i in range(12)]
//!     urls = [f"http://127.0.0.1:{port}{p}" for p in paths]
//!     for way in [serial, process_pool, threads, lambda urls: asyncio.run(crawl(port, paths))]:
//!         wall, t0 = time.time(), os.times()
//!         pages = way(urls)
//!         cpu = sum(os.times()[:4]) - sum(t0[:4])                # self + reaped children
//!         print(f"{len(pages)} pages in {time.time() - wall:.2f} s, CPU {cpu:.2f} s")
//! ```
//!
//! What the OS does, row by row:
//! - **serial**: one `connect`, `send`, `recv` after another; each `recv` sleeps in the kernel
//!   until the page comes, so the row takes `urls x delay` and almost no CPU.
//! - **process pool**: this crate's [`crate::Pool`], forked for the row; each task fetches one
//!   URL inside a worker (`map` with chunk size 1, so a slow page holds up one worker only).
//!   `--workers` processes wait at once: about `workers` times faster. The CPU column also
//!   counts the workers (`RUSAGE_CHILDREN`, once the pool has reaped them): the fork and the
//!   exit of every worker are in it.
//! - **threads**: `--workers` threads of this process take the next URL in turn
//!   (`ThreadPoolExecutor.map`). A blocked thread sleeps in the kernel and the others go on.
//!   In Python the GIL does not get in the way here: a thread blocked in `recv` has released
//!   it, which is the notes' "遇到阻塞线程会自动让出解释器".
//! - **event loop**: one thread, many sockets (tokio's current-thread runtime, like
//!   `asyncio.run`). Each fetch is a task that, instead of blocking, says "wake me when this
//!   socket is readable" and hands the thread back; the loop sleeps in `epoll_wait` on all the
//!   sockets at once. A semaphore keeps `--workers` fetches in flight so the rows compare; it
//!   could keep every one in flight, still on one thread.
//!
//! The clients are crates, not hand-written HTTP: `ureq` (blocking) for the first three rows,
//! `hyper` (async) for the last. The server is a plain accept loop with a thread per
//! connection; `httparse` reads the requests.
//!
//! **Why the server is a process of its own.** The pool forks its workers, and a fork copies
//! only the forking thread: a lock that another thread (a server thread) held at that instant
//! stays locked forever in the child, so `common::spawn` refuses to fork a process that has
//! threads. The server therefore runs in a child forked first, while the demo is still one
//! thread. The parent binds the listening socket *before* that fork, so the port is known at
//! once and no request can come too early: a connection made before the server calls `accept`
//! waits in the socket's backlog. The parent then closes its copy of the socket; the server
//! process holds the only one. (The other order, pool first and server threads after, works
//! too, but a worker dying later could not be replaced: the pool forks its replacements.) A
//! side effect worth having: the server's CPU is in no row (the server is reaped only at the
//! end). The server never ends by itself; the parent kills and reaps it when done, the stop
//! handler does so on Ctrl-C, and the kernel does so if the parent is killed
//! (`PR_SET_PDEATHSIG`).
//!
//! ## 笔记勘误
//! - *GIL 建议 "尽量使用多进程完成并发"*: for waiting (IO-bound work), processes buy nothing
//!   that threads or an event loop do not: all three rows are about `workers` times faster than
//!   the serial one. The process pool pays more CPU for it (forks, copies of every page), and
//!   the event loop the least (one thread). Processes are the answer for *computing* in Python,
//!   where the GIL lets one thread run Python code at a time.
//! - *"后期爬虫也会用到进程池"*: a pool's size for a crawler is how many waits overlap, not the
//!   number of cores, so the default here is 4 workers whatever the CPU count (Python's
//!   `Pool()` default, the CPU count, is sized for computing).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use common::{json, out};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use nix::sys::resource::{getrusage, UsageWho};

use crate::{Options, Pool, Settings, Tasks};

/// Most URLs a run may fetch (`--urls`): the serial row alone takes `urls x delay`.
pub const MAX_URLS: u32 = 1000;
/// Longest answer delay (`--delay-ms`), before `--time-scale`.
pub const MAX_DELAY_MS: u64 = 10_000;
/// Workers when `--workers` is not given: how many waits overlap, not the CPU count.
pub const DEFAULT_WORKERS: usize = 4;

/// Flags of `crawl`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "--workers (1..=64) is 4 here when not given: for waiting, the pool's \
                        size is how many fetches overlap, not the CPU count."
)]
pub struct Args {
    /// How many pages to fetch each way (1..=1000).
    #[arg(long, default_value_t = 12, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_URLS as i64))]
    pub urls: u32,
    /// How long the server waits before answering each request, in ms (0..=10000; times
    /// --time-scale).
    #[arg(long, default_value_t = 200, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(0..=MAX_DELAY_MS))]
    pub delay_ms: u64,
}

/// One way of fetching, measured.
#[derive(Debug, Clone, Copy)]
struct Row {
    wall_ms: f64,
    cpu_ms: f64,
    fetched: usize,
}

/// Run the demo. `workers`: `--workers` if given.
pub fn run(a: &Args, workers: Option<u32>, settings: &Settings) -> Result<()> {
    let workers = workers.map_or(DEFAULT_WORKERS, |w| w as usize);
    let n = a.urls as usize;
    let delay = common::clock::scaled(Duration::from_millis(a.delay_ms));

    // The server: bind here (port 0: the kernel chooses), serve in a forked child.
    let listener = TcpListener::bind("127.0.0.1:0").context("bind(127.0.0.1:0)")?;
    let addr = listener.local_addr().context("getsockname")?;
    // The closure (and the listener it owns) is the child's; the parent's copy of the closure
    // is dropped when `spawn` returns, which closes the parent's copy of the socket.
    let mut server = common::spawn("crawl-server", move || serve(listener, delay))?;
    let paths: Vec<String> = (0..n).map(|i| format!("/page/{i}")).collect();
    let urls: Vec<String> = paths.iter().map(|p| format!("http://{addr}{p}")).collect();
    out::event(
        "server",
        json!({"addr": addr.to_string(), "pid": server.pid(), "delay_ms": ms(delay)}),
        format!(
            "server: http://{addr} (process {}), every answer after {:.0} ms; {n} pages, \
             {workers} workers",
            server.pid(),
            ms(delay)
        ),
    );

    let serial = measure("serial", "serial", &paths, || {
        urls.iter().map(|u| fetch(u)).collect()
    })?;
    // The pool is kept (closed and joined) for the --timeline chart, drawn after its row.
    let mut joined = None;
    let pool = measure("pool", "process pool", &paths, || {
        let (bodies, pool) = with_process_pool(&urls, workers, settings)?;
        joined = Some(pool);
        Ok(bodies)
    })?;
    if let Some(p) = &joined {
        settings.show_timeline(p);
    }
    let threads = measure("threads", "threads", &paths, || {
        with_threads(&urls, workers)
    })?;
    let event_loop = measure("event_loop", "event loop", &paths, || {
        with_event_loop(addr, &paths, workers)
    })?;

    // Done with the server: it never exits by itself.
    server.kill()?;
    server.join()?;

    let speedup = |r: &Row| serial.wall_ms / r.wall_ms.max(1e-3);
    out::event(
        "speedups",
        json!({"pool": speedup(&pool), "threads": speedup(&threads), "event_loop": speedup(&event_loop)}),
        format!(
            "faster than serial: process pool {:.1}x, threads {:.1}x, event loop {:.1}x \
             (at most {workers} fetches in flight: about {workers}x expected)",
            speedup(&pool),
            speedup(&threads),
            speedup(&event_loop)
        ),
    );
    out::say(format!(
        "IO-bound: each fetch waits {:.0} ms and computes almost nothing (CPU ms << wall ms). \
         Processes, threads and one event loop all overlap the waits; in Python too, since a \
         thread blocked on a socket has released the GIL (the notes' 多种阻塞方案).",
        ms(delay)
    ));
    out::say(format!(
        "The CPU column is the price: {:.1} ms for the process pool (forking and ending \
         {workers} processes), {:.1} ms for {workers} threads, {:.1} ms for one thread's \
         event loop.",
        pool.cpu_ms, threads.cpu_ms, event_loop.cpu_ms
    ));
    // The notes' two claims this demo answers, in the output (and in --json), with the figures.
    let cpus = crate::cpu_count();
    out::event(
        "errata",
        json!({"workers": workers, "cpu_count": cpus,
               "pool_speedup": speedup(&pool), "event_loop_speedup": speedup(&event_loop),
               "pool_cpu_ms": pool.cpu_ms, "event_loop_cpu_ms": event_loop.cpu_ms}),
        format!(
            "Notes, GIL suggestion \"尽量使用多进程完成并发\": for waiting, the process pool was \
             {:.1}x faster than serial and one thread's event loop {:.1}x, for {:.1} ms of CPU \
             against {:.1}. Processes are the answer for computing, where the GIL lets one \
             thread run Python at a time.\n\
             Notes, point 3 \"后期爬虫也会用到进程池\": yes, and a crawler's pool is sized by how \
             many waits should overlap ({workers} here), not by the CPU count ({cpus}).",
            speedup(&pool),
            speedup(&event_loop),
            pool.cpu_ms,
            event_loop.cpu_ms
        ),
    );
    out::summary(json!({
        "urls": n,
        "workers": workers,
        "delay_ms": ms(delay),
        "serial_ms": serial.wall_ms,
        "pool_ms": pool.wall_ms,
        "threads_ms": threads.wall_ms,
        "event_loop_ms": event_loop.wall_ms,
        "cpu_ms": {"serial": serial.cpu_ms, "pool": pool.cpu_ms,
                   "threads": threads.cpu_ms, "event_loop": event_loop.cpu_ms},
        "fetched": {"serial": serial.fetched, "pool": pool.fetched,
                    "threads": threads.fetched, "event_loop": event_loop.fetched},
    }));
    for (name, r) in [
        ("serial", serial),
        ("process pool", pool),
        ("threads", threads),
        ("event loop", event_loop),
    ] {
        ensure!(
            r.fetched == n,
            "{name}: {} of {n} pages came back right",
            r.fetched
        );
    }
    Ok(())
}

/// The server process: the accept loop, and a thread per connection. Each thread reads the
/// request, sleeps `delay` (a server far away), then answers: a thread per connection, so
/// every delay overlaps. (`tiny_http`, a server crate, hands connections to a thread pool
/// that can queue a new connection behind a busy thread: one delay more for some pages.)
fn serve(listener: TcpListener, delay: Duration) -> Result<()> {
    // Its own track under `--trace` (a no-op without it).
    common::trace::process_name("http server");
    loop {
        // Sleeps in accept(2) until a client connects.
        let (stream, _) = listener.accept().context("accept")?;
        // The thread's error (a client gone mid-request) ends only that thread. No thread to
        // be had: the connection is dropped (the client sees it closed) and the loop goes on.
        let _ = std::thread::Builder::new().spawn(move || answer(stream, delay));
    }
}

/// Serve one connection: read the request head, parse it with `httparse`, wait, answer, close.
fn answer(mut stream: TcpStream, delay: Duration) -> Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let path = loop {
        let n = stream.read(&mut buf).context("read request")?;
        ensure!(n > 0, "the client closed before a whole request");
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if request.parse(&head)?.is_complete() {
            break request.path.unwrap_or("/").to_string();
        }
        ensure!(head.len() <= 16 * 1024, "request head over 16 KiB");
    };
    std::thread::sleep(delay);
    let body = page_body(&path);
    // One request per connection: `Connection: close`, then the thread ends and the socket
    // is closed with it.
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(answer.as_bytes())
        .context("write answer")?;
    Ok(())
}

/// What the server answers for `path`: the client checks it got exactly this.
fn page_body(path: &str) -> String {
    format!("page at {path}")
}

/// Run one way of fetching, with its wall and CPU time, and print its row. `fetch_all` returns
/// the bodies in URL order.
fn measure(
    key: &str,
    name: &str,
    paths: &[String],
    fetch_all: impl FnOnce() -> Result<Vec<String>>,
) -> Result<Row> {
    let (t, cpu) = (Instant::now(), cpu_ms()?);
    let bodies = fetch_all().with_context(|| format!("{name} row"))?;
    let (wall_ms, cpu_ms) = (ms(t.elapsed()), round3(cpu_ms()? - cpu));
    let fetched = bodies
        .iter()
        .zip(paths)
        .filter(|(body, path)| **body == page_body(path))
        .count();
    let row = Row {
        wall_ms,
        cpu_ms,
        fetched,
    };
    out::event(
        "row",
        json!({"way": key, "wall_ms": wall_ms, "cpu_ms": cpu_ms, "fetched": fetched}),
        format!(
            "  {name:<13} {fetched:>4}/{} pages {wall_ms:>9.1} ms wall {cpu_ms:>7.1} ms CPU",
            paths.len()
        ),
    );
    Ok(row)
}

/// CPU time (user + system) of this process and of its reaped children, in ms.
fn cpu_ms() -> Result<f64> {
    let mut total = 0.0;
    for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
        let u = getrusage(who).context("getrusage")?;
        for tv in [u.user_time(), u.system_time()] {
            total += tv.tv_sec() as f64 * 1e3 + tv.tv_usec() as f64 / 1e3;
        }
    }
    Ok(total)
}

/// GET `url` with the blocking client: the calling thread sleeps in the kernel until the
/// answer comes. Python's `urllib.request.urlopen(url).read()`.
fn fetch(url: &str) -> Result<String> {
    ureq::get(url)
        .call()
        .and_then(|mut answer| answer.body_mut().read_to_string())
        .with_context(|| format!("GET {url}"))
}

/// `Pool(workers).map(fetch, urls, chunksize=1)`, then close and join: the row counts forking
/// the workers and reaping them, as Python's `with Pool(...)` block would.
fn with_process_pool(
    urls: &[String],
    workers: usize,
    settings: &Settings,
) -> Result<(Vec<String>, Pool)> {
    let mut tasks = Tasks::new();
    // Registered before the fork, like every task (registry.rs). An error travels back as the
    // task's error, not a dead worker.
    let fetch_task = tasks.register_fallible("fetch", |url: String| {
        fetch(&url).map_err(|e| format!("{e:#}"))
    });
    let mut opts = Options::new(workers);
    opts.timeline = settings.timeline;
    let pool = Pool::with_options(tasks, opts)?;
    // Chunk size 1: each URL is a task, so the next free worker takes the next URL.
    let bodies = pool.map_chunked(&fetch_task, urls, 1)?;
    pool.close();
    pool.join()?;
    Ok((bodies, pool))
}

/// `ThreadPoolExecutor(workers).map(fetch, urls)`: `workers` threads, each taking the next URL
/// until none is left. The scope joins them all before returning.
fn with_threads(urls: &[String], workers: usize) -> Result<Vec<String>> {
    let next = AtomicUsize::new(0);
    let mut bodies: Vec<Option<Result<String>>> = (0..urls.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(url) = urls.get(i) else { break };
                        mine.push((i, fetch(url)));
                    }
                    mine
                })
            })
            .collect();
        for h in handles {
            // A thread only panics on a bug; pass the panic on rather than hide it.
            for (i, body) in h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                bodies[i] = Some(body);
            }
        }
    });
    bodies
        .into_iter()
        .map(|b| b.unwrap_or_else(|| bail!("a URL was never fetched")))
        .collect()
}

/// `asyncio.run(crawl(...))`: one thread, one event loop, a task per URL, at most `workers` in
/// flight (the semaphore). The runtime and its sockets are gone when this returns.
fn with_event_loop(addr: SocketAddr, paths: &[String], workers: usize) -> Result<Vec<String>> {
    // Current-thread: no thread is started; `block_on` runs the loop on this one.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async {
        let gate = Arc::new(tokio::sync::Semaphore::new(workers));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, path) in paths.iter().enumerate() {
            let (gate, path) = (gate.clone(), path.clone());
            // Spawning only queues the task: nothing runs until this task awaits below.
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                Ok::<_, anyhow::Error>((i, fetch_async(addr, &path).await?))
            });
        }
        let mut bodies = vec![String::new(); paths.len()];
        // Each await here hands the thread back to the loop until some task has finished.
        while let Some(done) = tasks.join_next().await {
            let (i, body) = done.context("event-loop task")??;
            bodies[i] = body;
        }
        Ok(bodies)
    })
}

/// GET `path` from `addr` without blocking: every `.await` on the socket returns the thread to
/// the event loop until the kernel says the socket is ready (epoll).
async fn fetch_async(addr: SocketAddr, path: &str) -> Result<String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect({addr})"))?;
    // hyper speaks HTTP/1.1 over the socket: `sender` sends requests, `connection` is the
    // task that moves the bytes; it ends when the exchange does.
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let answer = sender
        .send_request(request)
        .await
        .with_context(|| format!("GET {path}"))?;
    ensure!(
        answer.status().is_success(),
        "GET {path}: {}",
        answer.status()
    );
    let body = answer.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1e3)
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}
