//! The server benchmark: a load generator against `annal serve` on loopback, beside the same
//! operations run in-process on the store in the same run.
//!
//! `cargo run --release -p annal-server --example serve_bench [-- --dir DIR]` prints a markdown
//! table (BENCHMARKS.md, "Server"). The server runs in a child process (this program started
//! with `--serve STORE`), so its peak RSS and CPU time are its own; the load generator's CPU
//! time is this process's. Each of the first four phases runs three times, in-process and over
//! HTTP taking turns, and reports the medians. Phases: 64 concurrent single-event appenders,
//! batches of 1,000 per request (one at a time, then from 4 writers at once), a read of
//! everything as NDJSON, and 100 SSE subscribers while writers append 5,000 events/s. Every
//! append phase makes its inputs (the events in-process, the request bodies over HTTP) and its
//! connections before its clock starts. The appends' load generator holds one HTTP/1 connection
//! per client, driven by that client's own task (hyper's connection API), so it adds as little
//! as it can to what is measured; the read and SSE phases use reqwest and eventsource-stream.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark program: fail loudly, print
#![allow(clippy::too_many_lines)] // a benchmark program reads top to bottom as one run

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use annal::{EventType, ExpectedVersion, NewEvent, Position, Store, StreamId};
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const APPENDERS: usize = 64;
const SINGLE_EVENTS: usize = 64 * 250;
const BATCH_EVENTS: usize = 1000;
const BATCHES: usize = 300;
const SUBSCRIBERS: usize = 100;
const SSE_RATE: u64 = 5000;
const SSE_SECONDS: u64 = 4;
const SSE_WRITERS: u64 = 25;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--serve" {
        return serve_child(&args[2]);
    }
    let dir_arg = args
        .iter()
        .position(|a| a == "--dir")
        .map(|i| args[i + 1].clone());
    let dir = match dir_arg {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(dir.path()));
}

fn serve_child(store: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = annal::open(store, annal::Access::Write).await.unwrap();
        let config = annal_server::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..annal_server::ServerConfig::default()
        };
        let listener = annal_server::bind(&config).await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        annal_server::serve_until(listener, store, config, annal_server::Auth::Open, stop)
            .await
            .unwrap();
    });
}

fn event(i: usize) -> NewEvent {
    NewEvent::new(
        EventType::new("bench:tick").unwrap(),
        json!({"i": i, "note": "a small payload"}),
    )
}

fn body(events: usize, offset: usize) -> Value {
    let events: Vec<Value> = (0..events)
        .map(|i| json!({"type": "bench:tick", "payload": {"i": offset + i, "note": "a small payload"}}))
        .collect();
    json!({"events": events})
}

struct Row {
    name: &'static str,
    inproc: f64,
    http: f64,
    target: f64,
    unit: &'static str,
    server_cpu: f64,
    client_cpu: f64,
    wall: f64,
}

async fn run(dir: &std::path::Path) {
    let local = dir.join("inproc.db").to_string_lossy().into_owned();
    let remote = dir.join("served.db").to_string_lossy().into_owned();
    let store = annal::open(&local, annal::Access::Write).await.unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--serve", &remote])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = format!("http://{}", line.trim());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let pid = child.id();
    let mut rows = Vec::new();

    // 1. 64 concurrent single-event appenders.
    let (inproc, http_rate, cpu) = alternated(
        pid,
        || inproc_singles(store.clone()),
        || http_singles(&base),
    )
    .await;
    rows.push(row(
        "append, 64 concurrent single events",
        inproc,
        http_rate,
        0.5,
        "events/s",
        cpu,
    ));

    // 2. Batches of 1,000 events per request, one request at a time.
    let (inproc, http_rate, cpu) = alternated(
        pid,
        || inproc_batches(store.clone()),
        || http_batches(&base),
    )
    .await;
    rows.push(row(
        "append, batches of 1,000",
        inproc,
        http_rate,
        0.6,
        "events/s",
        cpu,
    ));

    // 2b. Batches of 1,000 from 4 writers at once (4 tasks in-process, 4 clients over HTTP),
    // each on its own stream: a request's parsing overlaps another's commit, as with several
    // agents writing; the store groups the batches that wait together on both sides.
    let (inproc, http_rate, cpu) = alternated(
        pid,
        || inproc_concurrent_batches(store.clone()),
        || http_concurrent_batches(&base),
    )
    .await;
    rows.push(row(
        "append, batches of 1,000, 4 writers at once",
        inproc,
        http_rate,
        0.6,
        "events/s",
        cpu,
    ));

    // 3. Read everything: in-process replay vs NDJSON over HTTP.
    let (inproc, http_rate, cpu) = alternated(
        pid,
        || inproc_replay(store.clone()),
        || http_replay(&http, &base),
    )
    .await;
    rows.push(row(
        "read all (NDJSON)",
        inproc,
        http_rate,
        0.5,
        "events/s",
        cpu,
    ));

    // 4. 100 SSE subscribers while writers append 5,000 events/s.
    let (cpu, (p50, p99, max, complete)) = measured_sse(pid, &base).await;
    println!("| phase | in-process | HTTP | ratio | target | server CPU | client CPU | wall |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} {} | {:.0} {} | {:.2} | ≥ {:.1} | {:.1} s | {:.1} s | {:.1} s |",
            r.name,
            r.inproc,
            r.unit,
            r.http,
            r.unit,
            r.http / r.inproc,
            r.target,
            r.server_cpu,
            r.client_cpu,
            r.wall
        );
    }
    println!(
        "| {SUBSCRIBERS} SSE subscribers, {SSE_RATE} events/s for {SSE_SECONDS} s | | every subscriber got every event: {complete} | ack→delivery p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms | | target p99 < 50 ms | {:.1} s | {:.1} s | {:.1} s |",
        cpu.0, cpu.1, cpu.2
    );
    println!("\nserver peak RSS: {} MiB", peak_rss_kib(pid) / 1024);
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let _ = child.wait();
}

fn row(
    name: &'static str,
    inproc: f64,
    http: f64,
    target: f64,
    unit: &'static str,
    cpu: (f64, f64, f64),
) -> Row {
    Row {
        name,
        inproc,
        http,
        target,
        unit,
        server_cpu: cpu.0,
        client_cpu: cpu.1,
        wall: cpu.2,
    }
}

/// What a phase did: how many events, in how long. Each phase starts its clock itself, after
/// making its inputs (the events in-process, the request bodies over HTTP): making them is the
/// caller's or the client's work, not the store's or the server's.
struct Done {
    events: usize,
    elapsed: Duration,
}

impl Done {
    fn since(started: Instant, events: usize) -> Self {
        Self {
            events,
            elapsed: started.elapsed(),
        }
    }
}

/// Runs a phase; returns its seconds and its rate.
async fn timed<F: std::future::Future<Output = Done>>(f: impl FnOnce() -> F) -> (f64, f64) {
    let done = f().await;
    let seconds = done.elapsed.as_secs_f64();
    (seconds, done.events as f64 / seconds)
}

/// Rounds of each phase, in-process and over HTTP taking turns, so that a change in the
/// machine's load falls on both sides.
const ROUNDS: usize = 3;

/// Runs `inproc` and `http` alternately [`ROUNDS`] times; returns the median rate of each and
/// the (server CPU s, client CPU s, wall s) of the HTTP round with the median rate.
async fn alternated<A, H>(
    pid: u32,
    mut inproc: impl FnMut() -> A,
    mut http: impl FnMut() -> H,
) -> (f64, f64, (f64, f64, f64))
where
    A: std::future::Future<Output = Done>,
    H: std::future::Future<Output = Done>,
{
    let mut inproc_rates = Vec::new();
    let mut http_rounds = Vec::new();
    for _ in 0..ROUNDS {
        inproc_rates.push(timed(&mut inproc).await.1);
        http_rounds.push(measured(pid, &mut http).await);
    }
    inproc_rates.sort_by(f64::total_cmp);
    http_rounds.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (cpu, http_rate) = http_rounds[ROUNDS / 2];
    (inproc_rates[ROUNDS / 2], http_rate, cpu)
}

/// Runs `f`, returning (server CPU s, client CPU s, wall s) and the rate.
async fn measured<F: std::future::Future<Output = Done>>(
    pid: u32,
    f: impl FnOnce() -> F,
) -> ((f64, f64, f64), f64) {
    let (server0, client0) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
    let (wall, rate) = timed(f).await;
    let cpu = (
        cpu_seconds(pid) - server0,
        cpu_seconds(std::process::id()) - client0,
        wall,
    );
    (cpu, rate)
}

async fn measured_sse(pid: u32, base: &str) -> ((f64, f64, f64), (f64, f64, f64, bool)) {
    let (server0, client0) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
    let started = Instant::now();
    let result = sse(base).await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = (
        cpu_seconds(pid) - server0,
        cpu_seconds(std::process::id()) - client0,
        wall,
    );
    (cpu, result)
}

/// User + system CPU seconds of a process, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn inproc_singles(store: Arc<dyn Store>) -> Done {
    let per = SINGLE_EVENTS / APPENDERS;
    let inputs: Vec<Vec<NewEvent>> = (0..APPENDERS)
        .map(|_| (0..per).map(event).collect())
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = inputs
        .into_iter()
        .enumerate()
        .map(|(t, events)| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = StreamId::new(format!("s-{t}")).unwrap();
                for event in events {
                    store
                        .append(&stream, ExpectedVersion::Any, vec![event])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    Done::since(started, SINGLE_EVENTS)
}

async fn http_singles(base: &str) -> Done {
    let per = SINGLE_EVENTS / APPENDERS;
    let mut clients = Vec::new();
    for t in 0..APPENDERS {
        let bodies = (0..per).map(|i| json_bytes(&body(1, i))).collect();
        clients.push((
            Client::connect(base).await,
            format!("/v1/streams/s-{t}/events"),
            bodies,
        ));
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(client, path, bodies)| tokio::spawn(client.post_each(path, bodies)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    Done::since(started, SINGLE_EVENTS)
}

/// `count` batches of [`BATCH_EVENTS`] events, numbered from batch `first` on.
fn batches(first: usize, count: usize) -> Vec<Vec<NewEvent>> {
    (first..first + count)
        .map(|b| {
            (0..BATCH_EVENTS)
                .map(|i| event(b * BATCH_EVENTS + i))
                .collect()
        })
        .collect()
}

/// The request bodies of the same batches.
fn bodies(first: usize, count: usize) -> Vec<Bytes> {
    (first..first + count)
        .map(|b| json_bytes(&body(BATCH_EVENTS, b * BATCH_EVENTS)))
        .collect()
}

fn json_bytes(value: &Value) -> Bytes {
    serde_json::to_vec(value).unwrap().into()
}

async fn inproc_batches(store: Arc<dyn Store>) -> Done {
    let stream = StreamId::new("batches").unwrap();
    let batches = batches(0, BATCHES);
    let started = Instant::now();
    for events in batches {
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    Done::since(started, BATCHES * BATCH_EVENTS)
}

async fn http_batches(base: &str) -> Done {
    let client = Client::connect(base).await;
    let bodies = bodies(0, BATCHES);
    let started = Instant::now();
    client
        .post_each("/v1/streams/batches/events".into(), bodies)
        .await;
    Done::since(started, BATCHES * BATCH_EVENTS)
}

/// One connection of the load generator, driven by the task that sends on it: no pool and no
/// connection task between a request and its socket, so the generator costs the run as little
/// as it can.
struct Client {
    address: String,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    connection: hyper::client::conn::http1::Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>,
}

impl Client {
    async fn connect(base: &str) -> Self {
        let address = base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        Self {
            address,
            sender,
            connection,
        }
    }

    /// Appends each body at `path`, one request after the other, reading every answer (the ids,
    /// positions and versions), while driving the connection in the same task.
    async fn post_each(self, path: String, bodies: Vec<Bytes>) {
        let Self {
            address,
            mut sender,
            connection,
        } = self;
        let requests = async {
            for body in bodies {
                let request = hyper::Request::post(&path)
                    .header("host", &address)
                    .header("content-type", "application/json")
                    .body(Full::new(body))
                    .unwrap();
                let response = sender.send_request(request).await.unwrap();
                assert!(response.status().is_success());
                response.into_body().collect().await.unwrap();
            }
        };
        tokio::select! {
            () = requests => {}
            ended = connection => panic!("the connection ended: {ended:?}"),
        }
    }
}

/// Writers of the concurrent batch phase; each sends `BATCHES / BATCH_WRITERS` batches.
const BATCH_WRITERS: usize = 4;

async fn inproc_concurrent_batches(store: Arc<dyn Store>) -> Done {
    let per_writer = BATCHES / BATCH_WRITERS;
    let inputs: Vec<_> = (0..BATCH_WRITERS)
        .map(|w| batches(w * per_writer, per_writer))
        .collect();
    let started = Instant::now();
    let writers = inputs.into_iter().enumerate().map(|(w, batches)| {
        let store = store.clone();
        tokio::spawn(async move {
            let stream = StreamId::new(format!("batches-{w}")).unwrap();
            for events in batches {
                store
                    .append(&stream, ExpectedVersion::Any, events)
                    .await
                    .unwrap();
            }
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.unwrap();
    }
    Done::since(started, BATCHES * BATCH_EVENTS)
}

async fn http_concurrent_batches(base: &str) -> Done {
    let per_writer = BATCHES / BATCH_WRITERS;
    let mut writers = Vec::new();
    for w in 0..BATCH_WRITERS {
        let client = Client::connect(base).await;
        let path = format!("/v1/streams/batches-{w}/events");
        writers.push((client, path, bodies(w * per_writer, per_writer)));
    }
    let started = Instant::now();
    let writers = writers
        .into_iter()
        .map(|(client, path, bodies)| client.post_each(path, bodies));
    futures::future::join_all(writers).await;
    Done::since(started, BATCHES * BATCH_EVENTS)
}

async fn inproc_replay(store: Arc<dyn Store>) -> Done {
    let started = Instant::now();
    let mut events = store.read_all(Position::START).await.unwrap();
    let mut n = 0;
    while let Some(event) = events.next().await {
        event.unwrap();
        n += 1;
    }
    Done::since(started, n)
}

async fn http_replay(http: &reqwest::Client, base: &str) -> Done {
    let started = Instant::now();
    let response = http
        .get(format!("{base}/v1/events"))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    let mut bytes = response.bytes_stream();
    let mut lines = 0;
    while let Some(chunk) = bytes.next().await {
        lines += chunk.unwrap().iter().filter(|b| **b == b'\n').count();
    }
    Done::since(started, lines)
}

/// The payload's `k` of an event's JSON, found without parsing the whole event: 100 subscribers
/// parsing every event in full made this process, not the server, the bound of the SSE phase.
fn key_of(data: &str) -> u64 {
    let at = data.find("\"payload\":{\"k\":").unwrap() + "\"payload\":{\"k\":".len();
    let digits = data[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
    data[at..at + digits].parse().unwrap()
}

/// 100 subscribers follow from the head while writers append `SSE_RATE` events/s; returns
/// ack→delivery p50, p99 and max (ms) and whether every subscriber got every event.
async fn sse(base: &str) -> (f64, f64, f64, bool) {
    let http = reqwest::Client::new();
    let total = (SSE_RATE * SSE_SECONDS) as usize;
    let acked: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut subscribers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let response = http
            .get(format!("{base}/v1/subscribe"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        subscribers.push(tokio::spawn(async move {
            let mut events = response.bytes_stream().eventsource();
            let mut seen = Vec::with_capacity(total);
            while seen.len() < total {
                let Ok(Some(Ok(event))) =
                    tokio::time::timeout(Duration::from_secs(30), events.next()).await
                else {
                    break;
                };
                // The event's stream and index are in its data; the bench keys acks by both.
                let key = key_of(&event.data);
                seen.push((key, Instant::now()));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per_writer = total as u64 / SSE_WRITERS;
    let interval = Duration::from_secs_f64(SSE_WRITERS as f64 / SSE_RATE as f64);
    let writers: Vec<_> = (0..SSE_WRITERS)
        .map(|w| {
            let http = http.clone();
            let acked = acked.clone();
            let url = format!("{base}/v1/streams/live-{w}/events");
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(interval);
                for i in 0..per_writer {
                    ticker.tick().await;
                    let key = w * 1_000_000 + i;
                    let body = json!({"events": [{"type": "live:tick", "payload": {"k": key}}]});
                    let response = http.post(&url).json(&body).send().await.unwrap();
                    assert!(response.status().is_success());
                    acked.lock().unwrap().insert(key, Instant::now());
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let mut latencies = Vec::new();
    let mut complete = true;
    for subscriber in subscribers {
        let seen = subscriber.await.unwrap();
        complete &= seen.len() == total;
        for (key, at) in seen {
            let ack = acked[&key];
            latencies.push(at.saturating_duration_since(ack).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    (at(0.5), at(0.99), *latencies.last().unwrap(), complete)
}
