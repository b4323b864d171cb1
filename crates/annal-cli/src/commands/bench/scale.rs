//! `annal bench --scale`: what reads cost as the store grows. For each size it builds a wl1
//! store of that many events (through a child `annal append --stdin`, in wl1's order), then a
//! fresh process of its own (`--scale-one`) reopens it and times the fixed-size steps: their
//! answers do not grow with the store, so neither should their cost. A process per size keeps
//! each size's peak RSS its own. Each read step is the median of [`TRIES`] runs in a row; the
//! first query after the reopen, which finds no cache warm, is a row of its own.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use annal_core::{
    EventId, EventType, ExpectedVersion, Filter, ReadStreamOptions, Store, StreamId, TraceLimits,
    Version, collect,
};
use annal_swarm::workload::{STEP_MS, T0, domain_event, domain_events};
use anyhow::{Context, bail, ensure};

use super::measure::{Figure, peak_rss_bytes};
use crate::store::{Access, Location};

/// The store location of a size's store in `dir` for `backend`.
pub(crate) fn location(dir: &Path, backend: &str, events: u64) -> anyhow::Result<String> {
    let path = dir.join(format!("wl1-{events}"));
    match backend {
        "sqlite" => Ok(format!("{}.db", path.display())),
        "ndjson" => Ok(format!("ndjson:{}", path.display())),
        other => bail!("--scale-backend {other}: use sqlite or ndjson"),
    }
}

/// Builds a wl1 store of `events` at `store` through `annal append --stdin`, the events
/// written to its stdin by a thread as the child reads them (no file of 10 million lines).
pub(crate) fn build(store: &str, events: u64) -> anyhow::Result<Figure> {
    let exe = std::env::current_exe().context("finding the annal executable")?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["--store", store, "append", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting annal append --stdin")?;
    let stdin = child.stdin.take().context("the child's stdin")?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, stdin);
        for event in domain_events(events) {
            writer.write_all(event.ndjson_line().as_bytes())?;
            writer.write_all(b"\n")?;
        }
        writer.flush()
    });
    let stdout = child.stdout.take().context("the child's stdout")?;
    let acknowledged = BufReader::new(stdout).lines().count() as u64;
    let status = child.wait()?;
    let written = writer.join();
    ensure!(
        status.success() && acknowledged == events,
        "annal append --stdin acknowledged {acknowledged} of {events} events ({status})"
    );
    ensure!(
        matches!(written, Ok(Ok(()))),
        "writing the workload to the child failed"
    );
    Ok(Figure::rate(
        "build: append wl1 via `annal append --stdin`",
        events,
        started.elapsed(),
    ))
}

/// The build row of a store kept from an earlier run: not built, so no figure.
pub(crate) fn reused() -> Figure {
    Figure::quantity(
        "build: append wl1 via `annal append --stdin`",
        f64::NAN,
        "events/s",
    )
}

/// The events in the kept store at `store`, if there is one, read through a read-only open in
/// this process (the measuring child's caches stay cold). It must hold at least the `events`
/// of wl1 it was built with (each run's step appends one more); a shorter one is refused.
pub(crate) async fn kept_events(store: &str, events: u64) -> anyhow::Result<Option<u64>> {
    let exists = match store.strip_prefix("ndjson:") {
        Some(dir) => Path::new(dir).exists(),
        None => Path::new(store).exists(),
    };
    if !exists {
        return Ok(None);
    }
    let location = Location::parse(store)?;
    let opened = crate::store::open(location, Access::Read, std::time::Duration::ZERO).await?;
    let head = opened.head().await?.0;
    ensure!(
        head >= events,
        "the kept store {store} holds {head} events, fewer than {events}: remove it to rebuild"
    );
    Ok(Some(head))
}

/// Removes the store at `store` and its side files.
pub(crate) fn remove(store: &str) {
    if let Some(path) = store.strip_prefix("ndjson:") {
        std::fs::remove_dir_all(path).ok();
    } else {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            std::fs::remove_file(format!("{store}{suffix}")).ok();
        }
    }
}

/// How many times each read step runs; its figure is their median.
const TRIES: usize = 5;

/// Times one run of `step`, answering how many events it returned.
async fn timed_once<F, Fut>(step: &str, run: F) -> anyhow::Result<Figure>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let started = Instant::now();
    let items = run().await?;
    Ok(Figure::millis(step, items, started.elapsed()))
}

/// The median of [`TRIES`] runs of `step` in a row: one run's time on a shared machine moves
/// with whatever else runs at that moment.
async fn timed<F, Fut>(step: &str, mut run: F) -> anyhow::Result<Figure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let mut runs = Vec::with_capacity(TRIES);
    for _ in 0..TRIES {
        runs.push(timed_once(step, &mut run).await?);
    }
    runs.sort_by(|a, b| a.value.total_cmp(&b.value));
    Ok(runs.swap_remove(TRIES / 2))
}

async fn query(store: &Arc<dyn Store>, filter: Filter) -> anyhow::Result<u64> {
    Ok(collect(store.query(&filter).await?).await?.len() as u64)
}

/// The steps on the store of `events` at `store` (built before), in this process; the append
/// step appends wl1's event `next` (`events` after a fresh build; later on a kept store).
pub(crate) async fn steps(store: &str, events: u64, next: u64) -> anyhow::Result<Vec<Figure>> {
    let location = Location::parse(store)?;
    let started = Instant::now();
    let store = crate::store::open(location, Access::Write, std::time::Duration::ZERO).await?;
    let mut figures = vec![Figure::millis("reopen", events, started.elapsed())];
    figures.push(append_one_more(&store, next).await?);
    figures.extend(queries(&store, events).await?);
    figures.extend(stats_and_lookups(&store, events).await?);
    if let Some(rss) = peak_rss_bytes() {
        figures.push(Figure::quantity(
            "peak RSS",
            rss as f64 / (1024.0 * 1024.0),
            "MiB",
        ));
    }
    Ok(figures)
}

/// Appends wl1's event `index` with the exact expected version of its stream: wl1 gives each
/// of its 1,000 streams one event per round of 1,000.
async fn append_one_more(store: &Arc<dyn Store>, index: u64) -> anyhow::Result<Figure> {
    let next = domain_event(index);
    let expected = ExpectedVersion::Exact(Version(index / 1_000));
    timed_once("append one more after reopen", || async move {
        store
            .append(&next.stream(), expected, vec![next.to_new_event()])
            .await?;
        Ok(1)
    })
    .await
}

/// The three queries, each bounded to 100 results so their answers do not grow with the store.
async fn queries(store: &Arc<dyn Store>, events: u64) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let completed = EventType::new("task:completed")?;
    let span = STEP_MS * i64::try_from(events)?;
    let by_type = Filter {
        event_types: vec![completed.clone()],
        limit: Some(100),
        direction: annal_core::Direction::Backward,
        ..Filter::all()
    };
    figures.push(
        timed_once("first query after reopen (by type, newest 100)", || {
            query(store, by_type.clone())
        })
        .await?,
    );
    figures.push(
        timed("query by type, newest 100", || {
            query(store, by_type.clone())
        })
        .await?,
    );
    let window = Filter {
        event_types: vec![completed.clone(), EventType::new("agent:task-completed")?],
        timestamp_from: Some(T0 + span / 4 + 1),
        timestamp_to: Some(T0 + 3 * span / 4),
        limit: Some(100),
        ..Filter::all()
    };
    figures.push(
        timed("query 2 types + time window, 100 results", || {
            query(store, window.clone())
        })
        .await?,
    );
    let paged = Filter {
        event_types: vec![completed],
        timestamp_from: Some(T0 + span / 4 + 1),
        limit: Some(100),
        offset: 10,
        ..Filter::all()
    };
    figures.push(
        timed("query type + time, limit/offset", || {
            query(store, paged.clone())
        })
        .await?,
    );
    Ok(figures)
}

/// The store's statistics, the head of one stream, and the trace of one event.
async fn stats_and_lookups(store: &Arc<dyn Store>, events: u64) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    figures.push(
        timed("stats", || async move {
            Ok(store.stats(10).await?.total_events)
        })
        .await?,
    );
    let agent = StreamId::new("agent-7")?;
    figures.push(
        timed("read one stream, 100 events", || async {
            let options = ReadStreamOptions::forward().limit(100);
            Ok(collect(store.read_stream(&agent, options).await?)
                .await?
                .len() as u64)
        })
        .await?,
    );
    // An event of a task stream from the middle of the log.
    let id = EventId::new(format!("evt-{}", events / 2 / 1_000 * 1_000 + 401))?;
    figures.push(
        timed("trace of a task event", || async {
            let trace = annal_core::trace(store.as_ref(), &id, TraceLimits::default()).await?;
            Ok(1 + trace.causes.len() as u64 + trace.effects.len() as u64)
        })
        .await?,
    );
    Ok(figures)
}

/// Bytes the store at `store` occupies: the SQLite file and its WAL, or the NDJSON directory.
pub(crate) fn bytes(store: &str) -> u64 {
    match store.strip_prefix("ndjson:") {
        Some(dir) => std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|entry| entry.metadata().ok())
                    .filter(|meta| meta.is_file())
                    .map(|meta| meta.len())
                    .sum()
            })
            .unwrap_or(0),
        None => super::script::store_bytes(Path::new(store)),
    }
}

/// Runs [`steps`] in a child `annal bench --scale-one` and reads its figures back.
pub(crate) fn measure_in_child(store: &str, events: u64, next: u64) -> anyhow::Result<Vec<Figure>> {
    let exe = std::env::current_exe().context("finding the annal executable")?;
    let child = Command::new(exe)
        .args(["--json", "bench", "--scale-one", store, "--events"])
        .arg(events.to_string())
        .arg("--scale-next")
        .arg(next.to_string())
        .output()
        .context("starting the measuring process")?;
    ensure!(
        child.status.success(),
        "measuring {store} failed: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&child.stdout).context("reading the measuring process's figures")?;
    let mut figures = Vec::new();
    for row in rows {
        let step = row["step"].as_str().unwrap_or_default().to_owned();
        let value = row["value"].as_f64().unwrap_or(f64::NAN);
        // The units the steps use, back as the static names `Figure` holds.
        let unit = match row["unit"].as_str() {
            Some("ms") => "ms",
            Some("events/s") => "events/s",
            Some("MiB") => "MiB",
            _ => "",
        };
        figures.push(Figure::quantity(step, value, unit));
    }
    Ok(figures)
}
