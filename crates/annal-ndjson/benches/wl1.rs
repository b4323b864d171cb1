//! Goal: the NDJSON backend's figures on the reference workload wl1 (its run events, about 430
//! bytes each) at N = 100,000, printed beside the seed ledger's (SEED-BASELINE section 3: 705
//! appends/s awaited one by one, never durable; 572 ms to read all 100,000) and beside the
//! disk's write+fsync loop measured in the same run, the ceiling for anything acknowledged one
//! append at a time.
//! Method: a plain timed run (no criterion: each step is long enough to time once) on fresh
//! directories under `ANNAL_BENCH_DIR` or the system temp dir. `ANNAL_BENCH_EVENTS` and
//! `ANNAL_BENCH_ONE_BY_ONE` shrink it for a quick look.
// Benchmark code: a failed setup should stop the run loudly, and the report goes to stdout.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_core::{Position, Store};
use annal_ndjson::NdjsonStore;
use annal_swarm::workload::run_event;
use futures::StreamExt;

const SEED_APPENDS_PER_SECOND: f64 = 705.0;
const SEED_READ_ALL_100K_MS: f64 = 572.0;
const APPENDERS: u64 = 64;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Awaited appends of wl1's first `count` run events, one per call: one fsync each.
async fn one_by_one(store: &NdjsonStore, count: u64) -> Duration {
    let started = Instant::now();
    for i in 0..count {
        run_event(i)
            .to_draft()
            .unwrap()
            .append(store)
            .await
            .unwrap();
    }
    started.elapsed()
}

/// All `count` run events from 64 concurrent appenders, one event per call: group commit.
async fn concurrently(store: &Arc<NdjsonStore>, count: u64) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for appender in 0..APPENDERS {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let mut i = appender;
            while i < count {
                run_event(i)
                    .to_draft()
                    .unwrap()
                    .append(&*store)
                    .await
                    .unwrap();
                i += APPENDERS;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

async fn read_all(store: &NdjsonStore) -> (u64, Duration) {
    let started = Instant::now();
    let mut events = store.read_all(Position::START).await.unwrap();
    let mut count = 0;
    while let Some(event) = events.next().await {
        event.unwrap();
        count += 1;
    }
    (count, started.elapsed())
}

/// The disk's ceiling for one-by-one durable appends: write one ~430-byte line, fdatasync, repeat.
fn fsync_loop(dir: &std::path::Path, count: u64) -> Duration {
    let mut file = std::fs::File::create(dir.join("fsync-loop")).unwrap();
    let line = [b'x'; 431];
    let started = Instant::now();
    for _ in 0..count {
        file.write_all(&line).unwrap();
        file.sync_data().unwrap();
    }
    started.elapsed()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument (as for criterion) is ignored here.
    let events = setting("ANNAL_BENCH_EVENTS", 100_000);
    let one = setting("ANNAL_BENCH_ONE_BY_ONE", 2_000).min(events);
    let base = std::env::var_os("ANNAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let ceiling = rate(one, fsync_loop(dir.path(), one));
    let sequential = runtime.block_on(async {
        let store = NdjsonStore::open(dir.path().join("one-by-one")).unwrap();
        rate(one, one_by_one(&store, one).await)
    });
    let (concurrent, reads) = runtime.block_on(async {
        let store = Arc::new(NdjsonStore::open(dir.path().join("wl1")).unwrap());
        let appended = rate(events, concurrently(&store, events).await);
        let mut reads = Vec::new();
        for _ in 0..3 {
            let (count, elapsed) = read_all(&store).await;
            assert_eq!(count, events, "every appended event reads back");
            reads.push(elapsed);
        }
        reads.sort();
        (appended, reads)
    });
    // Each appender waits for its own acknowledgment, so a group holds at most one event per
    // appender and each group costs at least one fdatasync.
    let group_ceiling = ceiling * APPENDERS as f64;
    let read_ms = reads[1].as_secs_f64() * 1000.0;
    let seed_read_ms = SEED_READ_ALL_100K_MS * events as f64 / 100_000.0;

    println!("annal-ndjson on wl1 run events, N = {events} (durable: fdatasync before every ack)");
    println!("| step | annal-ndjson | seed | vs seed | ceiling (same run) |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| append one by one ({one} events) | {sequential:.0}/s | {SEED_APPENDS_PER_SECOND:.0}/s (not durable) | {:.1}x | {ceiling:.0}/s write+fdatasync loop ({:.2} of it) |",
        sequential / SEED_APPENDS_PER_SECOND,
        sequential / ceiling
    );
    println!(
        "| append, {APPENDERS} concurrent appenders | {concurrent:.0}/s | {SEED_APPENDS_PER_SECOND:.0}/s | {:.1}x | {:.0}/s ({APPENDERS} per fdatasync; {:.2} of it) |",
        concurrent / SEED_APPENDS_PER_SECOND,
        group_ceiling,
        concurrent / group_ceiling
    );
    println!(
        "| read all (median of 3) | {read_ms:.0} ms ({:.0}/s) | {seed_read_ms:.0} ms | {:.2}x | |",
        rate(events, reads[1]),
        seed_read_ms / read_ms
    );
}
