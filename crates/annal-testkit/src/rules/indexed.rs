//! Indexed answers equal scanned answers: on random stores (random types, aggregate types,
//! sources, correlation and causation ids, timestamps out of position order, removals), every
//! random filter's answer equals the events that `read_all` returns filtered by
//! [`Filter::matches`], ordered, offset and limited; and `stats` equals a recount of them.
//!
//! A backend that answers from an index (postings, time blocks, maintained counts) must give
//! exactly the scan's answer, whatever part of the store its index covers. The stores are
//! small, so a disk backend under test should index after a few events (SQLite's
//! `index_every`). `ANNAL_SEED=<seed>` replays a run.

use std::collections::BTreeMap;
use std::sync::Arc;

use annal_core::{
    AggregateType, Direction, Filter, RecordedEvent, RetentionPolicy, Stats, Store, StreamCount,
    Version,
};
use serde_json::json;

use crate::fixtures::{all, append, event, event_type, everything, ids, stream};

const TYPES: [&str; 5] = [
    "task:created",
    "task:failed",
    "agent:spawned",
    "note:added",
    "x:y",
];
const AGGREGATE_TYPES: [&str; 3] = ["task", "agent", "other"];
const SOURCES: [&str; 3] = ["swarm", "import", "cli"];
const LINKS: [&str; 3] = ["run-1", "run-2", "evt-7"];
const STREAMS: usize = 6;

/// Rounds of changes per run, and filters checked after each.
const ROUNDS: usize = 3;
const FILTERS: usize = 40;

/// A number in `low..high`, as the type of `low`.
fn range<T: TryFrom<u64> + TryInto<u64> + Copy>(rng: &mut TestRng, low: T, high: T) -> T {
    let (Ok(low64), Ok(high64)) = (low.try_into(), high.try_into()) else {
        return low;
    };
    T::try_from(low64 + rng.next() % (high64 - low64).max(1)).unwrap_or(low)
}

/// True with probability `p`.
fn chance(rng: &mut TestRng, p: f64) -> bool {
    (rng.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
}

/// SplitMix64: a small deterministic generator, so a seed replays a run exactly.
struct TestRng(u64);

impl TestRng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn rng() -> (u64, TestRng) {
    let seed: u64 = std::env::var("ANNAL_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    eprintln!("indexed-query seed: {seed} (replay with ANNAL_SEED={seed})");
    (seed, TestRng(seed))
}

/// Adds random batches to `store`, then removes some events, then appends more.
async fn random_changes(store: &Arc<dyn Store>, rng: &mut TestRng, n: &mut u64) {
    for round in 0..2 {
        for _ in 0..range(rng, 8, 24) {
            let name = format!("s-{}", range(rng, 0, STREAMS));
            let batch = (0..range(rng, 1, 6))
                .map(|_| {
                    *n += 1;
                    random_event(rng, *n)
                })
                .collect();
            append(store, &name, batch).await;
        }
        if round == 0 {
            remove_some(store, rng).await;
        }
    }
}

fn random_event(rng: &mut TestRng, n: u64) -> annal_core::NewEvent {
    let pick = |rng: &mut TestRng, list: &[&str]| list[range(rng, 0, list.len())].to_owned();
    let mut new = event(&pick(rng, &TYPES), json!({ "n": n }))
        .with_aggregate_type(
            AggregateType::new(pick(rng, &AGGREGATE_TYPES)).expect("valid aggregate type"),
        )
        .with_source(pick(rng, &SOURCES))
        // Out of position order on purpose: imports keep their own timestamps.
        .with_timestamp(range(rng, 0, 1_000));
    if chance(rng, 0.4) {
        new = new.with_correlation_id(pick(rng, &LINKS));
    }
    if chance(rng, 0.3) {
        new = new.with_causation_id(pick(rng, &LINKS));
    }
    new
}

async fn remove_some(store: &Arc<dyn Store>, rng: &mut TestRng) {
    let name = stream(&format!("s-{}", range(rng, 0, STREAMS)));
    store
        .truncate_before(&name, Version(range(rng, 1, 4)), true)
        .await
        .expect("truncate");
    let name = stream(&format!("s-{}", range(rng, 0, STREAMS)));
    store
        .delete_stream(&name, annal_core::ExpectedVersion::Any)
        .await
        .expect("delete");
    let policy = RetentionPolicy {
        before_timestamp: Some(range(rng, 0, 200)),
        force: true,
        ..RetentionPolicy::default()
    };
    store.retain(policy).await.expect("retain");
}

fn random_filter(rng: &mut TestRng) -> Filter {
    let subset = |rng: &mut TestRng, list: &[&str]| -> Vec<String> {
        list.iter()
            .filter(|_| chance(rng, 0.3))
            .map(|name| (*name).to_owned())
            .collect()
    };
    let maybe = |rng: &mut TestRng, list: &[&str], p: f64| {
        chance(rng, p).then(|| list[range(rng, 0, list.len())].to_owned())
    };
    let mut filter = Filter {
        event_types: subset(rng, &TYPES).iter().map(|t| event_type(t)).collect(),
        aggregate_types: subset(rng, &AGGREGATE_TYPES)
            .into_iter()
            .map(|a| AggregateType::new(a).expect("valid aggregate type"))
            .collect(),
        source: maybe(rng, &SOURCES, 0.3),
        correlation_id: maybe(rng, &LINKS, 0.1),
        causation_id: maybe(rng, &LINKS, 0.1),
        limit: chance(rng, 0.5).then(|| range(rng, 0, 20)),
        offset: if chance(rng, 0.3) {
            range(rng, 0, 10)
        } else {
            0
        },
        direction: if chance(rng, 0.5) {
            Direction::Forward
        } else {
            Direction::Backward
        },
        ..Filter::all()
    };
    if chance(rng, 0.2) {
        filter.aggregate_ids = vec![stream(&format!("s-{}", range(rng, 0, STREAMS)))];
    }
    if chance(rng, 0.5) {
        let from = range(rng, 0, 900);
        filter.timestamp_from = Some(from);
        if chance(rng, 0.6) {
            filter.timestamp_to = Some(from + range(rng, 1, 300));
        }
    } else if chance(rng, 0.3) {
        filter.timestamp_to = Some(range(rng, 1, 1_000));
    }
    filter
}

/// The answer a scan gives: every readable event through the filter's predicates, then its
/// direction, offset and limit.
pub fn scanned(events: &[RecordedEvent], filter: &Filter) -> Vec<RecordedEvent> {
    let mut found: Vec<RecordedEvent> = events
        .iter()
        .filter(|e| filter.matches(e))
        .cloned()
        .collect();
    if filter.direction == Direction::Backward {
        found.reverse();
    }
    let found = found
        .into_iter()
        .skip(usize::try_from(filter.offset).unwrap_or(usize::MAX));
    match filter.limit {
        Some(limit) => found
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect(),
        None => found.collect(),
    }
}

/// Random filters over random stores answer exactly what a scan of the log answers.
pub async fn indexed_queries_equal_scanned(store: Arc<dyn Store>) {
    let (seed, mut rng) = rng();
    let mut n = 0;
    for _ in 0..ROUNDS {
        random_changes(&store, &mut rng, &mut n).await;
        let events = everything(&store).await;
        for _ in 0..FILTERS {
            let filter = random_filter(&mut rng);
            let got = all(store.query(&filter).await.expect("query starts")).await;
            assert_eq!(
                ids(&got),
                ids(&scanned(&events, &filter)),
                "seed {seed}: {filter:?}"
            );
        }
        assert_eq!(
            without_disk(store.stats(4).await.expect("stats")),
            recount(&events, 4),
            "seed {seed}: stats"
        );
    }
}

fn without_disk(stats: Stats) -> Stats {
    Stats {
        bytes_on_disk: None,
        snapshot_count: 0,
        ..stats
    }
}

/// The statistics of `events`, counted one by one (no snapshots, no disk).
pub fn recount(events: &[RecordedEvent], top_streams: usize) -> Stats {
    let mut stats = Stats {
        total_events: events.len() as u64,
        oldest_timestamp: events.iter().map(|e| e.timestamp).min(),
        newest_timestamp: events.iter().map(|e| e.timestamp).max(),
        first_position: events.first().map(|e| e.position),
        last_position: events.last().map(|e| e.position),
        ..Stats::default()
    };
    let mut streams: BTreeMap<_, u64> = BTreeMap::new();
    for e in events {
        *stats
            .events_by_type
            .entry(e.event_type.to_string())
            .or_default() += 1;
        *stats
            .events_by_aggregate_type
            .entry(e.aggregate_type.to_string())
            .or_default() += 1;
        *streams.entry(e.aggregate_id.clone()).or_default() += 1;
    }
    stats.stream_count = streams.len() as u64;
    let mut ranked: Vec<StreamCount> = streams
        .into_iter()
        .map(|(stream, events)| StreamCount { stream, events })
        .collect();
    ranked.sort_by(|a, b| {
        b.events
            .cmp(&a.events)
            .then_with(|| a.stream.cmp(&b.stream))
    });
    ranked.truncate(top_streams);
    stats.top_streams = ranked;
    stats
}

/// Queries over a store of several thousand events, more than a page, a time block and an
/// index interval hold, with timestamps that wander against positions: every answer (by type,
/// by type and window, by window alone, both directions, limits and offsets that cross pages)
/// equals the scan's.
pub async fn indexed_queries_over_many_blocks(store: Arc<dyn Store>) {
    let mut state = 0x5EED_u64;
    let mut rng = TestRng(state);
    for batch in 0..30u64 {
        let events = (0..200u64)
            .map(|i| {
                let n = batch * 200 + i;
                let jitter = range(&mut rng, 0i64, 6_000) - 3_000;
                event(TYPES[(n % 5) as usize], json!({ "n": n }))
                    .with_timestamp(10 * n as i64 + jitter)
                    .with_source(SOURCES[(n % 3) as usize])
            })
            .collect();
        append(&store, &format!("s-{}", batch % STREAMS as u64), events).await;
    }
    state = rng.next();
    let events = everything(&store).await;
    let windows = [
        (None, None),
        (Some(20_000), Some(21_000)),
        (Some(55_000), None),
        (None, Some(3_000)),
    ];
    for (from, to) in windows {
        for types in [vec![], vec!["task:failed"], vec!["x:y", "agent:spawned"]] {
            for (limit, offset) in [(None, 0), (Some(5), 0), (Some(100), 7), (None, 600)] {
                for direction in [Direction::Forward, Direction::Backward] {
                    let filter = Filter {
                        event_types: types.iter().map(|t| event_type(t)).collect(),
                        source: state.is_multiple_of(2).then(|| "swarm".to_owned()),
                        timestamp_from: from,
                        timestamp_to: to,
                        limit,
                        offset,
                        direction,
                        ..Filter::all()
                    };
                    state = state.rotate_left(7) ^ 0x9E37;
                    let got = all(store.query(&filter).await.expect("query starts")).await;
                    assert_eq!(ids(&got), ids(&scanned(&events, &filter)), "{filter:?}");
                }
            }
        }
    }
}
