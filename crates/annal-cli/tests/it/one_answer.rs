// Goal: one input, one answer on every backend. An append whose every text and JSON field is
// hostile (control characters and NUL, JSON-escaped lone surrogates, very long strings, deep
// nesting, numbers out of every range, `-0`, duplicate keys) is either accepted by the memory,
// SQLite, NDJSON and PostgreSQL backends alike, which then read back identical envelopes, or
// refused by all four with the same kind of error; and a refused append never costs another
// caller's append that runs at the same moment.
// Method: proptest generates the envelope as JSON text (so escapes and duplicate keys reach the
// parser as a client would send them) and the stream id as a JSON string; the text is decoded
// once, as the HTTP layer and `append --stdin` do, and the same event goes to the four stores,
// which run in lockstep with fixed clocks. Each case races a good append to another stream.
// At the end the disk stores are reopened and must read back what they answered before.
// The run prints its seed and how the cases ended (most hostile envelopes never decode, so 200
// cases, about 12 s, give some 40 that reach the stores); ANNAL_SEED replays a run,
// ANNAL_ONE_ANSWER_CASES sets the case count.

// Test code: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use annal_core::{
    AppendError, Clock, EventId, EventType, ExpectedVersion, MemoryStore, NewEvent, Position,
    ReadStreamOptions, RecordedEvent, Store, StreamId, Timestamp, collect,
};
use annal_ndjson::NdjsonStore;
use annal_postgres::{PostgresOptions, PostgresStore};
use annal_sqlite::SqliteStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Value, json};

/// The time every store stamps on an event without one, so the four stamp alike.
const NOW: Timestamp = 1_700_000_000_000;

#[derive(Clone, Copy)]
struct FixedClock;

impl Clock for FixedClock {
    fn now_ms(&self) -> Timestamp {
        NOW
    }
}

/// One piece of a JSON string's body: a character written as JSON writes it, or an escape
/// sequence written verbatim (lone surrogates, NUL, a surrogate pair).
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        600 => proptest::char::range('a', 'z').prop_map(escaped),
        60 => any::<char>().prop_map(escaped),
        40 => prop::sample::select(vec![
            '\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}', '\u{200b}', '\u{2028}',
            '\u{202e}', '\u{fe0f}', '\u{feff}', '\u{fffd}', '\u{ffff}', '\u{10ffff}', ':', '"',
            '\\', '/', '%', '\'', 'é', '\u{301}', 'ß', 'İ', '日', '🦀',
        ])
        .prop_map(escaped),
        15 => prop::sample::select(vec![
            r"\ud83e\udd80", r"\u0000", r"\u00e9", r"\uFFFF", r"\u001f", r"\/", r"\b\f",
        ])
        .prop_map(str::to_owned),
        // Rare, as one refuses the whole envelope at decoding: lone surrogates, a bad escape.
        3 => prop::sample::select(vec![r"\ud800", r"\udfff", r"\udc00\ud800", r"\x"])
            .prop_map(str::to_owned),
    ]
}

/// `c` as it appears inside a JSON string.
fn escaped(c: char) -> String {
    let quoted = serde_json::to_string(&c.to_string()).unwrap();
    quoted[1..quoted.len() - 1].to_owned()
}

/// The body of a JSON string: usually short, sometimes just over or far over a limit.
fn string_body() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => proptest::collection::vec(piece(), 1..12).prop_map(|pieces| pieces.concat()),
        1 => Just(String::new()),
        1 => (piece(), prop::sample::select(vec![255usize, 256, 257, 300, 70_000]))
            .prop_map(|(piece, n)| piece.repeat(n)),
    ]
}

fn json_string() -> impl Strategy<Value = String> {
    string_body().prop_map(|body| format!("\"{body}\""))
}

/// Numbers as text: the ordinary and every edge a decoder or a database column can trip on.
fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string()),
        2 => prop::sample::select(vec![
            "0", "-0", "-0.0", "1e400", "-1e400", "1e-400", "18446744073709551617",
            "18446744073709551615", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "-9223372036854775809", "1.0", "1E2", "0.1",
            "123456789012345678901234567890", "01", "+1", "NaN", ".5",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A timestamp: usually any whole number of milliseconds, sometimes an edge or the wrong kind.
fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => any::<i64>().prop_map(|n| n.to_string()),
        1 => json_number(),
    ]
}

/// Any JSON value as text, with nesting up to a few levels, duplicate keys and odd spacing.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        json_string(),
        json_number(),
        Just("true".to_owned()),
        Just("null".to_owned()),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec((json_string(), inner), 0..4).prop_map(object),
        ]
    })
}

fn object(members: Vec<(String, String)>) -> String {
    let members: Vec<String> = members
        .into_iter()
        .map(|(key, value)| format!("{key}: {value}"))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// A payload or metadata: usually an object, sometimes deeply nested or not an object at all.
fn json_object_field() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::collection::vec((json_string(), json_value()), 0..5).prop_map(object),
        1 => (1usize..200).prop_map(|depth| {
            format!("{{\"d\":{}1{}}}", "[".repeat(depth), "]".repeat(depth))
        }),
        1 => (json_string(), json_value(), json_value())
            .prop_map(|(key, a, b)| format!("{{{key}:{a},{key}:{b}}}")),
        1 => json_value(),
    ]
}

/// The text of an event type: `domain:verb` with hostile parts, or a malformed one.
fn event_type() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (string_body(), string_body()).prop_map(|(d, v)| format!("\"{d}:{v}\"")),
        1 => json_string(),
        1 => prop::sample::select(vec![
            "\":x\"", "\":\"", "\"x:\"", "\"a:b:c\"", "\"task:created\"", "1", "null",
        ])
        .prop_map(str::to_owned),
    ]
}

/// An optional text field: usually a string, sometimes null or a value of the wrong kind.
fn text_field() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => json_string(),
        1 => Just("null".to_owned()),
        1 => json_number(),
    ]
}

/// The envelope's members, each present or not; a few inputs repeat one member.
fn envelope() -> impl Strategy<Value = String> {
    let member = |key: &'static str, value: BoxedStrategy<String>| {
        // The two required members are nearly always there, so most cases reach the stores.
        let present = if matches!(key, "type" | "payload") {
            0.97
        } else {
            0.8
        };
        proptest::option::weighted(present, value).prop_map(move |v| v.map(|v| (key, v)))
    };
    (
        (
            member("id", text_field().boxed()),
            member("type", event_type().boxed()),
            member("aggregateType", text_field().boxed()),
            member("timestamp", timestamp().boxed()),
            member("source", text_field().boxed()),
        ),
        (
            member("payload", json_object_field().boxed()),
            member("metadata", json_object_field().boxed()),
            member("causationId", text_field().boxed()),
            member("correlationId", text_field().boxed()),
        ),
        proptest::option::weighted(0.05, (0usize..9, json_value())),
    )
        .prop_map(|((a, b, c, d, e), (f, g, h, i), repeat)| {
            let mut members: Vec<(String, String)> = [a, b, c, d, e, f, g, h, i]
                .into_iter()
                .flatten()
                .map(|(key, value)| (format!("\"{key}\""), value))
                .collect();
            if let Some((n, value)) = repeat
                && let Some((key, _)) = members.get(n % members.len().max(1)).cloned()
            {
                members.push((key, value));
            }
            object(members)
        })
}

/// One case: the stream id (a JSON string) and the envelope (a JSON object), both as text.
#[derive(Debug, Clone)]
struct Input {
    stream: String,
    envelope: String,
}

fn input() -> impl Strategy<Value = Input> {
    let stream = prop_oneof![
        1 => json_string(),
        1 => prop::sample::select(vec!["\"task-1\"", r#""agent-\u00e9""#, "\"日本-1\"", "\"a b\""])
            .prop_map(str::to_owned),
    ];
    (stream, envelope()).prop_map(|(stream, envelope)| Input { stream, envelope })
}

/// The four stores under test, in lockstep.
struct Backends {
    stores: Vec<(&'static str, Arc<dyn Store>)>,
    sqlite_path: std::path::PathBuf,
    ndjson_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn backends() -> Backends {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_path = dir.path().join("events.db");
    let ndjson_dir = dir.path().join("ndjson");
    let sqlite = SqliteStore::open_with(
        &sqlite_path,
        annal_sqlite::OpenOptions::new().clock(FixedClock),
    )
    .unwrap();
    let ndjson = NdjsonStore::open_with(
        &ndjson_dir,
        annal_ndjson::OpenOptions::new().clock(FixedClock),
    )
    .unwrap();
    let url = annal_testkit::pg_cluster::cluster().fresh_database().await;
    let postgres = PostgresStore::connect_with(
        url.parse().unwrap(),
        PostgresOptions::new().clock(FixedClock),
    )
    .await
    .unwrap();
    let memory = MemoryStore::with_options(annal_core::Limits::default(), FixedClock);
    Backends {
        stores: vec![
            ("memory", Arc::new(memory)),
            ("sqlite", Arc::new(sqlite)),
            ("ndjson", Arc::new(ndjson)),
            ("postgres", Arc::new(postgres)),
        ],
        sqlite_path,
        ndjson_dir,
        _dir: dir,
    }
}

/// The kind of a refusal: the error's variant and, for an invalid event, the reason's.
fn kind(error: &AppendError) -> String {
    match error {
        AppendError::InvalidEvent { index, reason } => {
            let reason = format!("{reason:?}");
            let name = reason.split([' ', '{', '(']).next().unwrap_or_default();
            format!("InvalidEvent {{ index: {index}, reason: {name} }}")
        }
        other => {
            let debug = format!("{other:?}");
            debug
                .split([' ', '{', '('])
                .next()
                .unwrap_or_default()
                .to_owned()
        }
    }
}

/// An envelope as compared across backends: everything but the position, which depends on how
/// the race with the good append fell out.
fn comparable(event: &RecordedEvent) -> Value {
    let mut value = serde_json::to_value(event).unwrap();
    value.as_object_mut().unwrap().remove("position");
    value
}

/// What one backend answered to one case.
#[derive(Debug, PartialEq)]
enum Answer {
    Accepted(Vec<Value>),
    Refused(String),
}

async fn answer(
    store: &Arc<dyn Store>,
    stream: &StreamId,
    event: NewEvent,
    case: u64,
) -> Result<Answer, String> {
    let good_stream = StreamId::new(format!("good-{case}")).unwrap();
    let good = NewEvent::new(
        EventType::new("good:appended").unwrap(),
        json!({"case": case}),
    )
    .with_id(EventId::new(format!("good-{case}")).unwrap());
    let (result, good) = tokio::join!(
        store.append(stream, ExpectedVersion::Any, vec![event]),
        store.append(&good_stream, ExpectedVersion::NoStream, vec![good]),
    );
    if let Err(error) = good {
        return Err(format!("a good append beside it failed: {error}"));
    }
    let result = match result {
        Ok(result) => result,
        Err(error) => return Ok(Answer::Refused(kind(&error))),
    };
    let read = store
        .read_stream(
            stream,
            ReadStreamOptions::forward().from(result.stream_version),
        )
        .await
        .map_err(|error| format!("reading the event back: {error}"))?;
    let events = collect(read)
        .await
        .map_err(|error| format!("reading the event back: {error}"))?;
    if events.len() != 1 || events[0].position != result.last_position {
        return Err(format!("read back {events:?} for {result:?}"));
    }
    Ok(Answer::Accepted(events.iter().map(comparable).collect()))
}

/// Checks one case; says how it ended (refused at decoding, accepted, or refused by the
/// stores), so the run can show how many cases reached the stores.
async fn check(
    backends: &Backends,
    input: &Input,
    case: u64,
) -> Result<&'static str, TestCaseError> {
    // Decoding is the caller's side and runs once; what it refuses reaches no store.
    let Ok(stream) = serde_json::from_str::<String>(&input.stream) else {
        return Ok("stream id not decodable");
    };
    let Ok(stream) = StreamId::new(stream) else {
        return Ok("stream id invalid");
    };
    let Ok(mut event) = serde_json::from_str::<NewEvent>(&input.envelope) else {
        return Ok("envelope not decodable");
    };
    // A store generates a missing id, differently in each store: give all four the same one.
    event.id = event.id.or_else(|| Some(EventId::generate()));
    let mut answers = Vec::new();
    for (name, store) in &backends.stores {
        let answer = answer(store, &stream, event.clone(), case)
            .await
            .map_err(|error| TestCaseError::fail(format!("{name}: {error}")))?;
        answers.push((name, answer));
    }
    let (first_name, first) = &answers[0];
    for (name, answer) in &answers[1..] {
        prop_assert_eq!(
            answer,
            first,
            "{} answered differently from {}",
            name,
            first_name
        );
    }
    match first {
        Answer::Accepted(events) => {
            let payload = events[0]["payload"].clone();
            prop_assert_eq!(&payload, &event.payload, "the payload read back changed");
            Ok("accepted by all four")
        }
        Answer::Refused(_) => Ok("refused by all four"),
    }
}

/// Everything a store holds, as compared across backends and across a reopen.
async fn everything(store: &dyn Store) -> Vec<Value> {
    let events = collect(store.read_all(Position::START).await.unwrap())
        .await
        .unwrap();
    let mut events: Vec<Value> = events.iter().map(comparable).collect();
    // Positions aside, the log's order between a case and its concurrent good append may differ.
    events.sort_by_key(Value::to_string);
    events
}

/// Asserts `store` holds the same events as the memory store, naming the first difference.
#[track_caller]
fn assert_same(store: &[Value], memory: &[Value], name: &str) {
    let only_store: Vec<&Value> = store.iter().filter(|e| !memory.contains(e)).collect();
    let only_memory: Vec<&Value> = memory.iter().filter(|e| !store.contains(e)).collect();
    assert!(
        only_store.is_empty() && only_memory.is_empty() && store.len() == memory.len(),
        "{name} holds other events than memory: only in {name}: {only_store:?}; \
         only in memory: {only_memory:?}"
    );
}

#[test]
fn one_input_gets_one_answer_on_every_backend() {
    let seed: u64 = std::env::var("ANNAL_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    let cases = std::env::var("ANNAL_ONE_ANSWER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    eprintln!("one-answer test seed: {seed} (replay with ANNAL_SEED={seed})");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        // The stores carry state from case to case, so a shrunk input replayed later meets
        // other stores: the first failing input, unshrunk, is the one to report.
        max_shrink_iters: 0,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let backends = runtime.block_on(backends());
    let case = std::sync::atomic::AtomicU64::new(0);
    let outcomes = std::sync::Mutex::new(std::collections::BTreeMap::<&str, u64>::new());
    let result = runner.run(&input(), |input| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = runtime.block_on(check(&backends, &input, n))?;
        *outcomes.lock().unwrap().entry(outcome).or_default() += 1;
        Ok(())
    });
    eprintln!("one-answer outcomes: {:?}", outcomes.lock().unwrap());
    if let Err(error) = result {
        panic!("the backends disagree (seed {seed}): {error}");
    }
    runtime.block_on(async {
        let mut all = Vec::new();
        for (name, store) in &backends.stores {
            all.push((name, everything(&**store).await));
        }
        for (name, events) in &all[1..] {
            assert_same(events, &all[0].1, name);
        }
        // Reopened, the disk stores read back exactly what they answered before.
        let sqlite = SqliteStore::open_read_only(&backends.sqlite_path).unwrap();
        assert_same(&everything(&sqlite).await, &all[0].1, "sqlite reopened");
        let ndjson = NdjsonStore::open_read_only(&backends.ndjson_dir).unwrap();
        assert_same(&everything(&ndjson).await, &all[0].1, "ndjson reopened");
    });
}
