// Goal: two writers (two stores on one database, as two processes) appending to one stream keep
// its versions gap-free and its optimistic checks exact. Each writer caches the versions it
// last saw, so every time the other one writes, the cached version is stale: the one-stream
// write statement must find the stream at another version, write nothing, and leave the
// decision to the full path. Method: the writers take turns with expected versions computed
// from their own last answer (stale by one turn), then append concurrently; every answer, the
// stream read back and the log's positions must agree.

use std::sync::Arc;

use annal_core::ReadStreamOptions;
use annal_core::{AppendError, ExpectedVersion, Store, Version};
use annal_postgres::PostgresStore;
use annal_testkit::fixtures::{all, everything, numbered, stream, versions};
use annal_testkit::pg_cluster::cluster;

async fn writer(url: &str) -> Arc<dyn Store> {
    Arc::new(PostgresStore::connect(url).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_of_one_stream_see_each_others_versions() {
    let url = cluster().fresh_database().await;
    let writers = [writer(&url).await, writer(&url).await];
    let s = stream("task-shared");
    let mut n = 0;
    let mut last = [Version(0), Version(0)];
    for turn in 0..20u64 {
        let me = (turn % 2) as usize;
        if turn > 0 {
            // What this writer last saw is one turn old: the other writer has appended since.
            n += 1;
            let stale = ExpectedVersion::Exact(last[me]);
            let event = numbered("task:noted", &format!("x{n}"), n);
            let error = writers[me]
                .append(&s, stale, vec![event])
                .await
                .expect_err("a stale expected version is refused");
            let actual = match &error {
                AppendError::WrongExpectedVersion { actual, .. } => Some(*actual),
                _ => None,
            };
            assert_eq!(actual, Some(Version(turn)), "turn {turn}: {error}");
        }
        n += 1;
        let written = writers[me]
            .append(
                &s,
                ExpectedVersion::Any,
                vec![numbered("task:noted", &format!("w{n}"), n)],
            )
            .await
            .unwrap();
        assert_eq!(written.stream_version, Version(turn + 1), "turn {turn}");
        last[me] = written.stream_version;
    }

    // A deleted stream keeps its version: the stale writer must not reuse the deleted one,
    // although no stored event holds it any more (nothing else would stop the insert).
    let d = stream("task-deleted");
    let [first, second] = &writers;
    let event = |id: &str| vec![numbered("task:noted", id, 500)];
    first
        .append(&d, ExpectedVersion::Any, event("d1"))
        .await
        .unwrap();
    second
        .append(&d, ExpectedVersion::Any, event("d2"))
        .await
        .unwrap();
    second
        .delete_stream(&d, ExpectedVersion::Any)
        .await
        .unwrap();
    let after = first
        .append(&d, ExpectedVersion::Any, event("d3"))
        .await
        .unwrap();
    assert_eq!(
        after.stream_version,
        Version(3),
        "the deleted version 2 is not reused"
    );

    let mut tasks = Vec::new();
    for (w, store) in writers.iter().enumerate() {
        for k in 0..100u64 {
            let store = Arc::clone(store);
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let event = numbered("task:noted", &format!("c{w}-{k}"), 1_000 + k);
                store.append(&s, ExpectedVersion::Any, vec![event]).await
            }));
        }
    }
    let mut answered: Vec<u64> = Vec::new();
    for task in tasks {
        answered.push(task.await.unwrap().unwrap().stream_version.0);
    }
    answered.sort_unstable();
    assert_eq!(
        answered,
        (21..=220).collect::<Vec<_>>(),
        "one answer per version"
    );

    for store in &writers {
        let events = all(store
            .read_stream(&s, ReadStreamOptions::forward())
            .await
            .unwrap())
        .await;
        assert_eq!(versions(&events), (1..=220).collect::<Vec<_>>());
        // Positions 21 and 22 were the deleted stream's first two events.
        let log = everything(store).await;
        let positions: Vec<u64> = log.iter().map(|e| e.position.0).collect();
        let expected: Vec<u64> = (1..=20).chain(23..=223).collect();
        assert_eq!(
            positions, expected,
            "gap-free positions, less the deleted ones"
        );
    }
}
