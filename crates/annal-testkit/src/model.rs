//! Model-based test: random sequences of appends (with random expected versions and retries),
//! truncations, deletions, reads and queries, run against a backend and against a plain
//! `BTreeMap` model; every answer must agree.
//!
//! The run prints its seed; `ANNAL_SEED=<seed>` replays it, `ANNAL_MODEL_CASES=<n>` sets how
//! many sequences run (default 64).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use annal_core::{
    AppendError, AppendResult, Direction, EventId, ExpectedVersion, Filter, NewEvent, Position,
    ReadStreamOptions, RecordedEvent, Store, StreamId, Version,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::json;

use crate::Harness;
use crate::fixtures::{event_type, stream};

const STREAMS: [&str; 4] = ["s-0", "s-1", "s-2", "s-3"];
const TYPES: [&str; 3] = ["a:x", "b:y", "c:z"];

/// One step of a generated sequence.
#[derive(Clone, Debug)]
enum Op {
    Append {
        stream: usize,
        expected: Expected,
        types: Vec<usize>,
    },
    RetryLast,
    Truncate {
        stream: usize,
        before: u64,
    },
    Delete {
        stream: usize,
    },
    ReadStream {
        stream: usize,
        backward: bool,
        from: Option<u64>,
        limit: Option<u64>,
    },
    ReadAll {
        from: u64,
    },
    Query {
        types: Vec<usize>,
        streams: Vec<usize>,
        offset: u64,
        limit: Option<u64>,
        backward: bool,
    },
}

#[derive(Clone, Copy, Debug)]
enum Expected {
    Any,
    NoStream,
    StreamExists,
    Exact(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let expected = prop_oneof![
        Just(Expected::Any),
        Just(Expected::NoStream),
        Just(Expected::StreamExists),
        (0u64..6).prop_map(Expected::Exact),
    ];
    let subset = |n: usize| proptest::collection::vec(0..n, 0..3);
    prop_oneof![
        6 => (0..STREAMS.len(), expected, proptest::collection::vec(0..TYPES.len(), 1..4))
            .prop_map(|(stream, expected, types)| Op::Append { stream, expected, types }),
        1 => Just(Op::RetryLast),
        1 => (0..STREAMS.len(), 0u64..6).prop_map(|(stream, before)| Op::Truncate { stream, before }),
        1 => (0..STREAMS.len()).prop_map(|stream| Op::Delete { stream }),
        2 => (0..STREAMS.len(), any::<bool>(), proptest::option::of(0u64..8), proptest::option::of(0u64..4))
            .prop_map(|(stream, backward, from, limit)| Op::ReadStream { stream, backward, from, limit }),
        1 => (0u64..20).prop_map(|from| Op::ReadAll { from }),
        2 => (subset(TYPES.len()), subset(STREAMS.len()), 0u64..4, proptest::option::of(0u64..5), any::<bool>())
            .prop_map(|(types, streams, offset, limit, backward)| Op::Query { types, streams, offset, limit, backward }),
    ]
}

/// What the model knows of one event.
#[derive(Clone, Debug, PartialEq)]
struct ModelEvent {
    id: String,
    stream: usize,
    event_type: usize,
    version: u64,
    position: u64,
}

#[derive(Default)]
struct Model {
    /// Readable events per stream, by version.
    streams: BTreeMap<usize, BTreeMap<u64, ModelEvent>>,
    /// Each stream's version counter (never goes down).
    counters: BTreeMap<usize, u64>,
    last_position: u64,
    next_id: u64,
}

impl Model {
    fn counter(&self, stream: usize) -> u64 {
        self.counters.get(&stream).copied().unwrap_or(0)
    }

    fn accepts(&self, stream: usize, expected: Expected) -> bool {
        let current = self.counter(stream);
        match expected {
            Expected::Any => true,
            Expected::NoStream => current == 0,
            Expected::StreamExists => current > 0,
            Expected::Exact(version) => current == version,
        }
    }

    fn append(&mut self, stream: usize, ids: &[String], types: &[usize]) -> AppendResult {
        let first_position = self.last_position + 1;
        let mut version = self.counter(stream);
        for (id, event_type) in ids.iter().zip(types) {
            version += 1;
            self.last_position += 1;
            let event = ModelEvent {
                id: id.clone(),
                stream,
                event_type: *event_type,
                version,
                position: self.last_position,
            };
            self.streams
                .entry(stream)
                .or_default()
                .insert(version, event);
        }
        self.counters.insert(stream, version);
        AppendResult {
            first_position: Position(first_position),
            last_position: Position(self.last_position),
            stream_version: Version(version),
        }
    }

    fn all(&self) -> Vec<ModelEvent> {
        let mut events: Vec<ModelEvent> = self
            .streams
            .values()
            .flat_map(|s| s.values().cloned())
            .collect();
        events.sort_by_key(|event| event.position);
        events
    }
}

fn expected_version(expected: Expected) -> ExpectedVersion {
    match expected {
        Expected::Any => ExpectedVersion::Any,
        Expected::NoStream => ExpectedVersion::NoStream,
        Expected::StreamExists => ExpectedVersion::StreamExists,
        Expected::Exact(version) => ExpectedVersion::Exact(Version(version)),
    }
}

fn summary(events: &[RecordedEvent]) -> Vec<(String, u64, u64)> {
    events
        .iter()
        .map(|e| (e.id.to_string(), e.version.0, e.position.0))
        .collect()
}

fn model_summary<'a>(events: impl IntoIterator<Item = &'a ModelEvent>) -> Vec<(String, u64, u64)> {
    events
        .into_iter()
        .map(|e| (e.id.clone(), e.version, e.position))
        .collect()
}

async fn read(
    events: Result<annal_core::EventStream, annal_core::ReadError>,
) -> Result<Vec<RecordedEvent>, TestCaseError> {
    let events = events.map_err(|error| TestCaseError::fail(format!("read failed: {error}")))?;
    annal_core::collect(events)
        .await
        .map_err(|error| TestCaseError::fail(format!("read failed: {error}")))
}

type LastAppend = (usize, Expected, Vec<NewEvent>, AppendResult);

async fn run_ops(store: Arc<dyn Store>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut check = ModelCheck {
        store,
        model: Model::default(),
        last: None,
    };
    for op in ops {
        check.apply(op).await?;
    }
    Ok(())
}

fn direction(backward: bool) -> Direction {
    if backward {
        Direction::Backward
    } else {
        Direction::Forward
    }
}

/// The store under test beside the model, and the last accepted append, which a retry repeats.
struct ModelCheck {
    store: Arc<dyn Store>,
    model: Model,
    last: Option<LastAppend>,
}

impl ModelCheck {
    /// Runs `op` on the store and the model; fails on the first answer they disagree on.
    async fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append {
                stream: s,
                expected,
                types,
            } => self.append(s, expected, &types).await,
            Op::RetryLast => self.retry_last().await,
            Op::Truncate { stream: s, before } => self.truncate(s, before).await,
            Op::Delete { stream: s } => self.delete(s).await,
            Op::ReadStream {
                stream: s,
                backward,
                from,
                limit,
            } => {
                let options = ReadStreamOptions {
                    from: from.map(Version),
                    direction: direction(backward),
                    limit,
                };
                self.read_stream(s, options).await
            }
            Op::ReadAll { from } => self.read_all(from).await,
            Op::Query {
                types,
                streams,
                offset,
                limit,
                backward,
            } => self.query(&types, &streams, offset, limit, backward).await,
        }
    }

    /// Appends a batch with fresh ids: accepted with the model's versions and positions, or
    /// refused with the model's version when the model refuses the expected version.
    async fn append(
        &mut self,
        s: usize,
        expected: Expected,
        types: &[usize],
    ) -> Result<(), TestCaseError> {
        let model = &mut self.model;
        let ids: Vec<String> = types
            .iter()
            .map(|_| {
                model.next_id += 1;
                format!("id-{}", model.next_id)
            })
            .collect();
        let batch: Vec<NewEvent> = ids
            .iter()
            .zip(types)
            .map(|(id, t)| {
                NewEvent::new(event_type(TYPES[*t]), json!({ "id": id }))
                    .with_id(EventId::new(id.as_str()).expect("valid id"))
            })
            .collect();
        let outcome = self
            .store
            .append(
                &stream(STREAMS[s]),
                expected_version(expected),
                batch.clone(),
            )
            .await;
        if self.model.accepts(s, expected) {
            let want = self.model.append(s, &ids, types);
            let got = outcome.map_err(|e| TestCaseError::fail(format!("append refused: {e}")))?;
            prop_assert_eq!(got, want);
            self.last = Some((s, expected, batch, got));
        } else {
            match outcome {
                Err(AppendError::WrongExpectedVersion { actual, .. }) => {
                    prop_assert_eq!(actual, Version(self.model.counter(s)));
                }
                other => {
                    prop_assert!(false, "expected a version conflict, got {:?}", other)
                }
            }
        }
        Ok(())
    }

    /// Repeats the last accepted append, while all its events are still stored: the store
    /// answers with the original result.
    async fn retry_last(&mut self) -> Result<(), TestCaseError> {
        let Some((s, expected, batch, original)) = self.last.clone() else {
            return Ok(());
        };
        let still_stored = batch.iter().all(|event| {
            let id = event.id.as_ref().map(EventId::as_str);
            self.model
                .all()
                .iter()
                .any(|stored| Some(stored.id.as_str()) == id)
        });
        if !still_stored {
            return Ok(());
        }
        let got = self
            .store
            .append(&stream(STREAMS[s]), expected_version(expected), batch)
            .await
            .map_err(|e| TestCaseError::fail(format!("retry refused: {e}")))?;
        prop_assert_eq!(got, original);
        Ok(())
    }

    /// Truncates stream `s` before version `before`; the store removes what the model does.
    async fn truncate(&mut self, s: usize, before: u64) -> Result<(), TestCaseError> {
        let report = self
            .store
            .truncate_before(&stream(STREAMS[s]), Version(before), false)
            .await
            .map_err(|e| TestCaseError::fail(format!("truncate failed: {e}")))?;
        let events = self.model.streams.entry(s).or_default();
        let doomed: Vec<u64> = events.range(..before).map(|(v, _)| *v).collect();
        for version in &doomed {
            events.remove(version);
        }
        prop_assert_eq!(report.removed, doomed.len() as u64);
        Ok(())
    }

    /// Deletes stream `s`; the store removes what the model does.
    async fn delete(&mut self, s: usize) -> Result<(), TestCaseError> {
        let report = self
            .store
            .delete_stream(&stream(STREAMS[s]), ExpectedVersion::Any)
            .await
            .map_err(|e| TestCaseError::fail(format!("delete failed: {e}")))?;
        let removed = self
            .model
            .streams
            .remove(&s)
            .map_or(0, |events| events.len() as u64);
        prop_assert_eq!(report.removed, removed);
        Ok(())
    }

    /// Reads stream `s` with `options`; the store returns the model's events in its order.
    async fn read_stream(&self, s: usize, options: ReadStreamOptions) -> Result<(), TestCaseError> {
        let got = read(self.store.read_stream(&stream(STREAMS[s]), options).await).await?;
        let events = self.model.streams.get(&s).cloned().unwrap_or_default();
        let mut want: Vec<&ModelEvent> = events
            .values()
            .filter(|e| options.admits(Version(e.version)))
            .collect();
        if options.direction == Direction::Backward {
            want.reverse();
        }
        want.truncate(options.limit.map_or(usize::MAX, |l| l as usize));
        prop_assert_eq!(summary(&got), model_summary(want));
        Ok(())
    }

    /// Reads the log from position `from`; the store returns the model's events.
    async fn read_all(&self, from: u64) -> Result<(), TestCaseError> {
        let got = read(self.store.read_all(Position(from)).await).await?;
        let all = self.model.all();
        let want = all.iter().filter(|e| e.position >= from);
        prop_assert_eq!(summary(&got), model_summary(want));
        Ok(())
    }

    /// Queries by types and streams (empty: all), paged; the store returns the model's events.
    async fn query(
        &self,
        types: &[usize],
        streams: &[usize],
        offset: u64,
        limit: Option<u64>,
        backward: bool,
    ) -> Result<(), TestCaseError> {
        let filter = Filter {
            event_types: types.iter().map(|t| event_type(TYPES[*t])).collect(),
            aggregate_ids: streams
                .iter()
                .map(|s| stream(STREAMS[*s]))
                .collect::<Vec<StreamId>>(),
            offset,
            limit,
            direction: direction(backward),
            ..Filter::all()
        };
        let got = read(self.store.query(&filter).await).await?;
        let mut want: Vec<ModelEvent> = self
            .model
            .all()
            .into_iter()
            .filter(|e| types.is_empty() || types.contains(&e.event_type))
            .filter(|e| streams.is_empty() || streams.contains(&e.stream))
            .collect();
        if backward {
            want.reverse();
        }
        let want = want
            .iter()
            .skip(offset as usize)
            .take(limit.map_or(usize::MAX, |l| l as usize));
        prop_assert_eq!(summary(&got), model_summary(want));
        Ok(())
    }
}

/// Runs random operation sequences against stores from `make` and the model; panics with the
/// seed and the failing (shrunk) sequence on any disagreement.
pub fn check_against_model<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Harness>,
{
    let seed: u64 = std::env::var("ANNAL_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    let cases = std::env::var("ANNAL_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    eprintln!("model test seed: {seed} (replay with ANNAL_SEED={seed})");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        runtime.block_on(async {
            let harness = make().await;
            run_ops(Arc::clone(&harness.store), ops).await
        })
    });
    if let Err(error) = result {
        panic!("the store disagrees with the model (seed {seed}): {error}");
    }
}
