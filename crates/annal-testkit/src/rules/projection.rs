//! Projections: catch up from the saved checkpoint, follow live, save state and checkpoint
//! together, rebuild from zero, and never apply an event twice across restarts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use annal_core::{Position, Projection, ProjectionName, ProjectionRunner, RecordedEvent, Store};
use serde::{Deserialize, Serialize};

use crate::fixtures::append_many;

/// A projection that counts events per type and remembers the positions it applied.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeCounts {
    /// Events per type.
    pub counts: BTreeMap<String, u64>,
    /// Every position applied, in order: a repeat shows a double application.
    pub positions: Vec<u64>,
}

impl Projection for TypeCounts {
    const NAME: &'static str = "testkit-type-counts";

    fn apply(&mut self, event: &RecordedEvent) {
        *self.counts.entry(event.event_type.to_string()).or_default() += 1;
        self.positions.push(event.position.0);
    }
}

fn name() -> ProjectionName {
    ProjectionName::new(TypeCounts::NAME).expect("valid name")
}

/// Catching up applies every event once and saves the checkpoint with the state; a restarted
/// runner resumes from it and applies only newer events.
pub async fn projection_resumes_from_checkpoint(store: Arc<dyn Store>) {
    append_many(&store, "a", 30).await;
    let mut runner = ProjectionRunner::<TypeCounts>::load(Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!(runner.catch_up().await.unwrap(), 30);
    assert_eq!(runner.checkpoint(), Position(30));
    let saved = store
        .load_projection(&name())
        .await
        .unwrap()
        .expect("saved after catching up");
    assert_eq!(saved.checkpoint, Position(30));
    let state: TypeCounts = serde_json::from_value(saved.state).unwrap();
    assert_eq!(
        state.positions.len(),
        30,
        "the saved state matches the saved checkpoint"
    );
    drop(runner);

    append_many(&store, "b", 5).await;
    let mut restarted = ProjectionRunner::<TypeCounts>::load(Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!(restarted.checkpoint(), Position(30));
    assert_eq!(restarted.catch_up().await.unwrap(), 5);
    assert_eq!(
        restarted.state().positions,
        (1..=35).collect::<Vec<_>>(),
        "no double count"
    );
    assert_eq!(restarted.state().counts["note:added"], 35);
}

/// Saving state every few events while catching up still ends consistent.
pub async fn projection_saves_periodically(store: Arc<dyn Store>) {
    append_many(&store, "a", 25).await;
    let mut runner = ProjectionRunner::<TypeCounts>::load(Arc::clone(&store))
        .await
        .unwrap()
        .save_every(10);
    runner.catch_up().await.unwrap();
    let saved = store.load_projection(&name()).await.unwrap().unwrap();
    assert_eq!(saved.checkpoint, Position(25));
    let state: TypeCounts = serde_json::from_value(saved.state).unwrap();
    assert_eq!(state.positions.len(), 25);
}

/// A live projection sees events appended after it started, and saves as it goes.
pub async fn projection_follows_live(store: Arc<dyn Store>) {
    append_many(&store, "a", 3).await;
    let runner = ProjectionRunner::<TypeCounts>::load(Arc::clone(&store))
        .await
        .unwrap();
    let mut live = runner.follow().await.unwrap();
    assert_eq!(live.checkpoint(), Position(3));
    append_many(&store, "b", 4).await;
    tokio::time::timeout(Duration::from_secs(10), live.wait_for(Position(7)))
        .await
        .expect("the live projection caught up in time")
        .unwrap();
    assert_eq!(live.state().positions, (1..=7).collect::<Vec<_>>());
    let runner = live.stop().await.unwrap();
    assert_eq!(runner.checkpoint(), Position(7));
    let saved = store.load_projection(&name()).await.unwrap().unwrap();
    assert_eq!(saved.checkpoint, Position(7));
}

/// Rebuilding forgets the state and folds every event again, once.
pub async fn projection_rebuilds_from_zero(store: Arc<dyn Store>) {
    append_many(&store, "a", 6).await;
    let mut runner = ProjectionRunner::<TypeCounts>::load(Arc::clone(&store))
        .await
        .unwrap();
    runner.catch_up().await.unwrap();
    assert_eq!(runner.rebuild().await.unwrap(), 6);
    assert_eq!(runner.state().positions, (1..=6).collect::<Vec<_>>());
}
