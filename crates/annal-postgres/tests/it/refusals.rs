// Goal: a request the database itself refuses costs no other caller's append. Found by the
// one-input-one-answer test: with the text limit raised, a long correlation id exceeds
// PostgreSQL's index row limit, and the whole group transaction failed, taking every append
// committed with it down. Method: the refused append races good appends to other streams into
// the same group; every good one must succeed and the refused one must name the cause.

use std::sync::Arc;

use annal_core::{EventType, ExpectedVersion, Limits, NewEvent, Store, StreamId};
use annal_postgres::{PostgresOptions, PostgresStore};
use serde_json::json;

/// Text that does not compress, so PostgreSQL cannot shrink it under its index row limit.
fn incompressible(len: usize) -> String {
    let mut x: u64 = 88_172_645_463_325_252;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_append_fails_alone() {
    let url = annal_testkit::pg_cluster::cluster().fresh_database().await;
    let limits = Limits {
        text_bytes_max: 100_000,
        ..Limits::default()
    };
    let options = PostgresOptions::new().limits(limits);
    let store: Arc<dyn Store> = Arc::new(
        PostgresStore::connect_with(url.parse().unwrap(), options)
            .await
            .unwrap(),
    );
    let event = || NewEvent::new(EventType::new("task:noted").unwrap(), json!({}));
    let bad = event().with_correlation_id(incompressible(8_000));
    let bad_stream = StreamId::new("bad").unwrap();
    let streams: Vec<StreamId> = (0..8)
        .map(|n| StreamId::new(format!("good-{n}")).unwrap())
        .collect();
    let mut appends = vec![store.append(&bad_stream, ExpectedVersion::Any, vec![bad])];
    for stream in &streams {
        appends.push(store.append(stream, ExpectedVersion::Any, vec![event()]));
    }
    let mut results = futures::future::join_all(appends).await.into_iter();
    let refused = results.next().unwrap().unwrap_err();
    for (stream, result) in streams.iter().zip(results) {
        let result = result.unwrap_or_else(|error| panic!("{stream} failed beside it: {error}"));
        assert_eq!(result.stream_version.0, 1);
    }
    let mut text = refused.to_string();
    let mut source = std::error::Error::source(&refused);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(text.contains("index row"), "the cause is named: {text}");
}
