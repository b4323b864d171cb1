// Goal: the indexed query plan (names resolved to ids, one index read per named type, stream
// or aggregate type, merged; a time window turned into a range of positions) returns exactly
// what a scan of the log returns, for any filter, including limit, offset and direction, for
// timestamps that are not in position order, and for events on either side of the fold's
// watermark (runs' time bounds cover the events up to it). Method: stores of pseudo-random
// names, sources, correlation and causation ids and timestamps; pseudo-random filters (fixed
// seeds, so a failure replays); each query's positions must equal those of `read_all` filtered
// with `Filter::matches`, ordered by the direction, then offset and limit applied.

use annal_core::{
    AggregateType, Direction, EventType, ExpectedVersion, Filter, NewEvent, Position,
    RecordedEvent, Store, StreamId,
};
use annal_postgres::PostgresStore;
use futures::StreamExt;
use serde_json::json;

use annal_testkit::pg_cluster::cluster;

use crate::watermark::{hold_fold, plain, until_counted, watermark_and_head};

/// The window bounds `random_filter` draws from.
const WINDOW_SPAN: u64 = 1_100;

/// A small deterministic generator (64-bit LCG, high bits).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % sides
    }

    fn some<T>(&mut self, value: impl FnOnce(&mut Self) -> T) -> Option<T> {
        (self.roll(3) == 0).then(|| value(self))
    }
}

const TYPES: [&str; 5] = [
    "task:created",
    "task:done",
    "agent:step",
    "memory:write",
    "run:end",
];
const AGGREGATES: [&str; 3] = ["task", "agent", "run"];

async fn collect(mut events: annal_core::EventStream) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    while let Some(event) = events.next().await {
        all.push(event.unwrap());
    }
    all
}

fn random_filter(dice: &mut Dice) -> Filter {
    let mut filter = Filter::all();
    let n_types = dice.roll(3);
    filter.event_types = (0..n_types)
        .map(|_| EventType::new(TYPES[dice.roll(5) as usize]).unwrap())
        .collect();
    let n_streams = dice.roll(3);
    filter.aggregate_ids = (0..n_streams)
        .map(|_| StreamId::new(format!("s-{}", dice.roll(9))).unwrap())
        .collect();
    if dice.roll(3) == 0 {
        filter.aggregate_types =
            vec![AggregateType::new(AGGREGATES[dice.roll(3) as usize]).unwrap()];
    }
    filter.source = dice.some(|d| format!("src-{}", d.roll(4)));
    filter.correlation_id = dice.some(|d| format!("c-{}", d.roll(12)));
    filter.causation_id = dice.some(|d| format!("k-{}", d.roll(30)));
    filter.timestamp_from = dice.some(|d| d.roll(600) as i64);
    filter.timestamp_to = dice.some(|d| 600 + d.roll(500) as i64);
    filter.limit = dice.some(|d| d.roll(40));
    filter.offset = if dice.roll(3) == 0 { dice.roll(30) } else { 0 };
    if dice.roll(2) == 0 {
        filter.direction = Direction::Backward;
    }
    filter
}

/// Appends `batches` batches of 10 pseudo-random events; `stamp` gives each its timestamp.
async fn append_random(
    store: &PostgresStore,
    dice: &mut Dice,
    batches: usize,
    stamp: &dyn Fn(&mut Dice) -> i64,
) {
    for _ in 0..batches {
        let stream = StreamId::new(format!("s-{}", dice.roll(9))).unwrap();
        let batch = (0..10)
            .map(|_| {
                let mut event = NewEvent::new(
                    EventType::new(TYPES[dice.roll(5) as usize]).unwrap(),
                    json!({}),
                )
                .with_aggregate_type(AggregateType::new(AGGREGATES[dice.roll(3) as usize]).unwrap())
                .with_source(format!("src-{}", dice.roll(4)))
                .with_timestamp(stamp(dice));
                if dice.roll(2) == 0 {
                    event = event.with_correlation_id(format!("c-{}", dice.roll(12)));
                }
                if dice.roll(2) == 0 {
                    event = event.with_causation_id(format!("k-{}", dice.roll(30)));
                }
                event
            })
            .collect();
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
}

/// Runs `cases` pseudo-random filters (windows within `0..span`) against the store and against
/// a scan of its whole log; returns how many matched something.
async fn answers_equal_a_scan(
    store: &PostgresStore,
    dice: &mut Dice,
    cases: usize,
    span: u64,
) -> usize {
    answers_equal_a_scan_of(store, dice, cases, span, &|_| {}).await
}

/// [`answers_equal_a_scan`], with each filter passed through `shape` first.
async fn answers_equal_a_scan_of(
    store: &PostgresStore,
    dice: &mut Dice,
    cases: usize,
    span: u64,
    shape: &dyn Fn(&mut Filter),
) -> usize {
    let log = collect(store.read_all(Position::START).await.unwrap()).await;
    let mut non_empty = 0;
    for case in 0..cases {
        let mut filter = random_filter(dice);
        shape(&mut filter);
        if span != WINDOW_SPAN {
            // A window of up to a third of the span, anywhere in it (a filter refuses an empty
            // one).
            let from = dice.roll(span) as i64;
            let to = from + 1 + dice.roll(span / 3) as i64;
            filter.timestamp_from = filter.timestamp_from.map(|_| from);
            filter.timestamp_to = filter.timestamp_to.map(|_| to);
        }
        let mut expected: Vec<u64> = log
            .iter()
            .filter(|event| filter.matches(event))
            .map(|event| event.position.0)
            .collect();
        if filter.direction == Direction::Backward {
            expected.reverse();
        }
        let expected: Vec<u64> = expected
            .into_iter()
            .skip(filter.offset as usize)
            .take(filter.limit.map_or(usize::MAX, |limit| limit as usize))
            .collect();
        let answered: Vec<u64> = collect(store.query(&filter).await.unwrap())
            .await
            .iter()
            .map(|event| event.position.0)
            .collect();
        assert_eq!(answered, expected, "case {case}: {filter:?}");
        non_empty += usize::from(!expected.is_empty());
    }
    non_empty
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_queries_answer_what_a_scan_answers() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let mut dice = Dice(20_261_202);
    // Timestamps out of position order, as imports keep theirs.
    append_random(&store, &mut dice, 40, &|dice| dice.roll(1_200) as i64).await;
    let non_empty = answers_equal_a_scan(&store, &mut dice, 300, WINDOW_SPAN).await;
    assert!(
        non_empty >= 60,
        "too few filters matched anything: {non_empty}"
    );
}

/// Time windows over more than one run of 4,096 positions, with events on both sides of the
/// fold's watermark: the runs' time bounds cover the events up to it, and the events past it
/// (some older than any before them, some newer) are found by reading them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_windows_find_events_on_both_sides_of_the_fold_watermark() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let mut dice = Dice(20_261_203);
    // About 9,000 events whose timestamps mostly rise with the position, spread over three runs.
    let clock = std::sync::atomic::AtomicI64::new(0);
    let rising = |dice: &mut Dice| {
        clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + dice.roll(50) as i64
    };
    append_random(&store, &mut dice, 900, &rising).await;
    let observer = plain(&url).await;
    until_counted(&observer).await;
    let mut holder = plain(&url).await;
    let held = hold_fold(&mut holder).await;
    append_random(&store, &mut dice, 30, &|dice| dice.roll(9_100) as i64).await;
    let (watermark, head) = watermark_and_head(&observer).await;
    assert!(
        watermark < head,
        "the events just appended are past the watermark"
    );
    let non_empty = answers_equal_a_scan(&store, &mut dice, 150, 9_100).await;
    assert!(
        non_empty >= 30,
        "too few filters matched anything: {non_empty}"
    );
    held.commit().await.unwrap();
    until_counted(&observer).await;
    let non_empty = answers_equal_a_scan(&store, &mut dice, 150, 9_100).await;
    assert!(
        non_empty >= 30,
        "too few filters matched anything: {non_empty}"
    );
}

/// Queries driven by the postings (a type, an aggregate type or a source, and no stream,
/// correlation or causation) over several posted runs of 4,096 positions and the unposted
/// events after them, before and after removals: every answer equals a scan, and the check
/// `annal verify` runs finds the postings and the time bounds exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postings_answer_what_a_scan_answers_after_removals() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let mut dice = Dice(20_261_204);
    // About 10,000 events: two posted runs and part of a third.
    append_random(&store, &mut dice, 1_000, &|dice| dice.roll(1_200) as i64).await;
    let observer = plain(&url).await;
    until_counted(&observer).await;
    let posted: i64 = observer
        .query_one("SELECT value FROM meta WHERE key = 'posted'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(posted, 2 * 4_096, "two whole runs are posted");
    let postings_only = |filter: &mut Filter| {
        filter.aggregate_ids.clear();
        filter.correlation_id = None;
        filter.causation_id = None;
    };
    let non_empty = answers_equal_a_scan_of(&store, &mut dice, 80, 1_200, &postings_only).await;
    assert!(non_empty >= 40, "too few filters matched: {non_empty}");
    let truncated = StreamId::new("s-1").unwrap();
    store
        .truncate_before(&truncated, annal_core::Version(700), true)
        .await
        .unwrap();
    let deleted = StreamId::new("s-2").unwrap();
    store
        .delete_stream(&deleted, ExpectedVersion::Any)
        .await
        .unwrap();
    assert_eq!(store.check_index().await.unwrap(), Vec::<String>::new());
    let non_empty = answers_equal_a_scan_of(&store, &mut dice, 80, 1_200, &postings_only).await;
    assert!(non_empty >= 40, "too few filters matched: {non_empty}");
    let stats = store.stats(10).await.unwrap();
    let log = collect(store.read_all(Position::START).await.unwrap()).await;
    let oldest = log.iter().map(|event| event.timestamp).min();
    let newest = log.iter().map(|event| event.timestamp).max();
    assert_eq!(
        (stats.oldest_timestamp, stats.newest_timestamp),
        (oldest, newest)
    );
}
