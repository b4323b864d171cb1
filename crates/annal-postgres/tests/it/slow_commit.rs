// Goal: an append whose commit is slow is never passed by a reader, across writer processes.
// Method: two stores on one database stand for two writer processes. A trigger makes the
// transaction that inserts the event with id "slow-commit" sleep after its insert, before its
// COMMIT, inside the real write path (head lock taken, row written, not yet visible). While
// it sleeps, eight appenders of the other store keep appending and a reader repeatedly reads
// the whole log. Every read must return positions 1..=n without a hole (a read that returned
// a position above the slow one without it would have let a reader pass it), many reads must
// have happened while the slow transaction was open, and a subscriber from the start must
// deliver every acknowledged event, the slow one included, exactly once, in
// strictly increasing position, without a gap.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use annal_core::{
    EventId, EventType, ExpectedVersion, Filter, NewEvent, Position, Store, StreamId,
};
use annal_postgres::PostgresStore;
use futures::StreamExt;
use serde_json::json;

use annal_testkit::pg_cluster::cluster;

const SLOW_ID: &str = "slow-commit";
const HOLD_MS: u64 = 1_500;
const APPENDERS: u64 = 8;

const SLOW_TRIGGER: &str = "
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = 'slow-commit' THEN PERFORM pg_sleep(1.5); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER slow_commit AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION slow_commit();";

fn event(id: String) -> NewEvent {
    NewEvent::new(EventType::new("probe:step").unwrap(), json!({ "id": id }))
        .with_id(EventId::new(id).unwrap())
}

/// The positions a fresh read of the whole log returns.
async fn read_positions(store: &PostgresStore) -> Vec<u64> {
    let mut events = store.read_all(Position::START).await.unwrap();
    let mut positions = Vec::new();
    while let Some(event) = events.next().await {
        positions.push(event.unwrap().position.0);
    }
    positions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reader_passes_a_slow_commit() {
    let url = cluster().fresh_database().await;
    let slow_writer = PostgresStore::connect(&url).await.unwrap();
    let others = PostgresStore::connect(&url).await.unwrap();
    let reader = PostgresStore::connect(&url).await.unwrap();
    // Streams and names exist before the trigger, so every later append takes the same path.
    let warm = StreamId::new("warm").unwrap();
    slow_writer
        .append(&warm, ExpectedVersion::Any, vec![event("warm-1".into())])
        .await
        .unwrap();
    tokio_postgres_exec(&url, SLOW_TRIGGER).await;
    let mut subscription = reader
        .subscribe(Position::START, Filter::all())
        .await
        .unwrap();

    let acked: Arc<Mutex<BTreeMap<u64, String>>> = Arc::new(Mutex::new(BTreeMap::new()));
    acked.lock().unwrap().insert(1, "warm-1".into());
    let started = Instant::now();
    let slow = tokio::spawn({
        let store = slow_writer.clone();
        async move {
            let result = store
                .append(&warm, ExpectedVersion::Any, vec![event(SLOW_ID.into())])
                .await
                .unwrap();
            result.first_position.0
        }
    });
    let appenders: Vec<_> = (0..APPENDERS)
        .map(|task| {
            let (store, acked) = (others.clone(), Arc::clone(&acked));
            tokio::spawn(async move {
                let stream = StreamId::new(format!("other-{task}")).unwrap();
                let mut n = 0;
                while started.elapsed() < Duration::from_millis(HOLD_MS * 2) {
                    n += 1;
                    let id = format!("other-{task}-{n}");
                    let result = store
                        .append(&stream, ExpectedVersion::Any, vec![event(id.clone())])
                        .await
                        .unwrap();
                    acked.lock().unwrap().insert(result.first_position.0, id);
                }
            })
        })
        .collect();
    // Reads of the whole log while the slow transaction is open (and after): the last
    // position each returned.
    let mut tails: Vec<u64> = Vec::new();
    while started.elapsed() < Duration::from_millis(HOLD_MS * 2) {
        let positions = read_positions(&reader).await;
        let expected: Vec<u64> = (1..=positions.len() as u64).collect();
        assert_eq!(positions, expected, "a read skipped a position");
        tails.push(positions.len() as u64);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let slow_position = slow.await.unwrap();
    for appender in appenders {
        appender.await.unwrap();
    }
    acked.lock().unwrap().insert(slow_position, SLOW_ID.into());

    let while_open = tails.iter().filter(|tail| **tail < slow_position).count();
    assert!(
        while_open >= 10,
        "the reader should have read often while the slow commit was open: {while_open} reads"
    );
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 10, "too few appends: {}", acked.len());
    let head = *acked.keys().next_back().unwrap();
    let mut delivered: BTreeMap<u64, String> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while delivered.len() < acked.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = tokio::time::timeout(left, subscription.next()).await;
        let event = next.expect("subscriber stalled").unwrap().unwrap();
        let expected = delivered.len() as u64 + 1;
        assert_eq!(event.position.0, expected, "delivery skipped or repeated");
        delivered.insert(event.position.0, event.id.to_string());
    }
    assert_eq!(head, acked.len() as u64, "positions have a gap");
    assert_eq!(
        delivered, acked,
        "the subscriber saw exactly the acknowledged events"
    );
}

async fn tokio_postgres_exec(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = driver.await;
}
