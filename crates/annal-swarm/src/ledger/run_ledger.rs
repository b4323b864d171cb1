//! [`RunLedger`]: the seed's run ledger API over any annal store.
//!
//! Invariants: a run event is stored once, under its own id, in stream `run-<taskId>`; logging
//! or importing it again changes nothing. Queries read the store, so every process sharing it
//! sees the same ledger.

use std::collections::BTreeMap;
use std::sync::Arc;

use annal_core::{
    AppendError, Clock, Direction, EventId, EventStream, EventType, Filter, Position,
    ReadStreamOptions, RetentionReport, Store, StreamId, SystemClock, Timestamp, Version,
};
use futures::StreamExt;

use super::error::LedgerError;
use super::evaluators::{Evaluator, EvaluatorResult, default_evaluators};
use super::metrics::{OptimizationMetrics, ViolationRanking, compute_metrics, rank_violations};
use super::run_event::{
    DiffSummary, RUN_EVENT_TYPE, RunEvent, TaskIntent, TestResults, run_stream,
};
use crate::events::builtin_type;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Events newly stored.
    pub imported: u64,
    /// Events already stored under the same id in the same stream, left as they were.
    pub already_present: u64,
    /// Ids already used by another stream's event; these events were not stored.
    pub conflicts: Vec<String>,
}

/// The run ledger of one store.
pub struct RunLedger {
    store: Arc<dyn Store>,
    evaluators: Vec<Box<dyn Evaluator>>,
    clock: Box<dyn Clock>,
}

impl std::fmt::Debug for RunLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.evaluators.iter().map(|e| e.name()).collect();
        f.debug_struct("RunLedger")
            .field("evaluators", &names)
            .finish_non_exhaustive()
    }
}

impl RunLedger {
    /// A ledger over `store` with the default evaluators and the system clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            evaluators: default_evaluators(),
            clock: Box::new(SystemClock),
        }
    }

    /// Uses `clock` for [`RunLedger::create_event`] and [`RunLedger::finalize_event`].
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The store the ledger reads and writes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Adds an evaluator after the others (duplicates allowed, as in the seed).
    pub fn add_evaluator(&mut self, evaluator: Box<dyn Evaluator>) {
        self.evaluators.push(evaluator);
    }

    /// Removes every evaluator called `name`; returns how many went.
    pub fn remove_evaluator(&mut self, name: &str) -> usize {
        let before = self.evaluators.len();
        self.evaluators.retain(|evaluator| evaluator.name() != name);
        before - self.evaluators.len()
    }

    /// The evaluators' names, in the order they run.
    pub fn evaluator_names(&self) -> Vec<&str> {
        self.evaluators
            .iter()
            .map(|evaluator| evaluator.name())
            .collect()
    }

    /// Runs every evaluator on `event`, in registration order.
    pub fn evaluate(&self, event: &RunEvent) -> Vec<EvaluatorResult> {
        self.evaluators
            .iter()
            .map(|evaluator| evaluator.evaluate(event))
            .collect()
    }

    /// A blank run for `task_id`, stamped now with a fresh id; not stored.
    pub fn create_event(
        &self,
        task_id: impl Into<String>,
        intent: TaskIntent,
        guidance_hash: impl Into<String>,
    ) -> RunEvent {
        RunEvent {
            event_id: EventId::generate().to_string(),
            task_id: task_id.into(),
            guidance_hash: guidance_hash.into(),
            retrieved_rule_ids: Vec::new(),
            tools_used: Vec::new(),
            files_touched: Vec::new(),
            diff_summary: DiffSummary::default(),
            test_results: TestResults::default(),
            violations: Vec::new(),
            outcome_accepted: None,
            rework_lines: 0,
            intent,
            timestamp: self.clock.now_ms(),
            duration_ms: 0,
            session_id: None,
        }
    }

    /// Sets the run's duration from its timestamp to now, then logs it.
    pub async fn finalize_event(&self, mut event: RunEvent) -> Result<RunEvent, LedgerError> {
        let elapsed = self.clock.now_ms().saturating_sub(event.timestamp);
        event.duration_ms = u64::try_from(elapsed).unwrap_or(0);
        self.log(event).await
    }

    /// Stores `event` under its own id (a fresh one if it has none) and returns it.
    ///
    /// Logging the same event again is a no-op, so a caller may retry after a timeout. The seed
    /// replaced every caller's id with a random one, which made retries duplicate.
    pub async fn log(&self, mut event: RunEvent) -> Result<RunEvent, LedgerError> {
        if event.event_id.is_empty() {
            event.event_id = EventId::generate().to_string();
        }
        let draft = event.to_draft()?;
        draft
            .append(&*self.store)
            .await
            .map_err(|source| LedgerError::Append {
                event_id: event.event_id.clone(),
                source,
            })?;
        Ok(event)
    }

    /// Stores each of `events` that is not stored yet, keeping their ids.
    pub async fn import(&self, events: &[RunEvent]) -> Result<ImportReport, LedgerError> {
        let mut report = ImportReport::default();
        for event in events {
            let draft = event.to_draft()?;
            let head = self.store.head().await?;
            match draft.append(&*self.store).await {
                // A retried append answers with the original positions, all at or before the
                // head we saw; a new append lands after it.
                Ok(result) if result.last_position <= head => report.already_present += 1,
                Ok(_) => report.imported += 1,
                Err(AppendError::DuplicateEventId { .. }) => {
                    report.conflicts.push(event.event_id.clone());
                }
                Err(source) => {
                    return Err(LedgerError::Append {
                        event_id: event.event_id.clone(),
                        source,
                    });
                }
            }
        }
        Ok(report)
    }

    /// Every run event, oldest first (in the order they were stored).
    pub async fn export(&self) -> Result<Vec<RunEvent>, LedgerError> {
        let events = self.store.query(&run_filter()).await?;
        collect_runs(events).await
    }

    /// The runs of `task_id`, oldest first.
    pub async fn events_by_task(&self, task_id: &str) -> Result<Vec<RunEvent>, LedgerError> {
        let stream = run_stream(task_id)?;
        let events = self
            .store
            .read_stream(&stream, ReadStreamOptions::forward())
            .await?;
        collect_runs(events).await
    }

    /// The runs with `start_ms <= timestamp <= end_ms` (both ends inclusive, as in the seed).
    pub async fn events_in_range(
        &self,
        start_ms: Timestamp,
        end_ms: Timestamp,
    ) -> Result<Vec<RunEvent>, LedgerError> {
        self.events_in_range_at_most(start_ms, end_ms, None).await
    }

    /// The first `max` runs (all with `None`) with `start_ms <= timestamp <= end_ms`, in
    /// position order: a caller that holds the answer in memory bounds it here.
    pub async fn events_in_range_at_most(
        &self,
        start_ms: Timestamp,
        end_ms: Timestamp,
        max: Option<u64>,
    ) -> Result<Vec<RunEvent>, LedgerError> {
        if start_ms > end_ms {
            return Ok(Vec::new());
        }
        // The store's upper bound is exclusive; one past `end_ms` makes it inclusive.
        let filter = Filter {
            timestamp_from: Some(start_ms),
            timestamp_to: end_ms.checked_add(1),
            limit: max,
            ..run_filter()
        };
        collect_runs(self.store.query(&filter).await?).await
    }

    /// The newest `n` runs, oldest first. `n = 0` gives none (the seed gave everything).
    pub async fn recent_events(&self, n: u64) -> Result<Vec<RunEvent>, LedgerError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let filter = Filter {
            direction: Direction::Backward,
            limit: Some(n),
            ..run_filter()
        };
        let mut events = collect_runs(self.store.query(&filter).await?).await?;
        events.reverse();
        Ok(events)
    }

    /// How many runs are stored.
    pub async fn event_count(&self) -> Result<u64, LedgerError> {
        let stats = self.store.stats(0).await?;
        Ok(stats
            .events_by_type
            .get(RUN_EVENT_TYPE)
            .copied()
            .unwrap_or(0))
    }

    /// The quality figures over every stored run.
    pub async fn metrics(&self) -> Result<OptimizationMetrics, LedgerError> {
        Ok(compute_metrics(&self.export().await?))
    }

    /// The rules broken in every stored run, costliest first.
    pub async fn rank_violations(&self) -> Result<Vec<ViolationRanking>, LedgerError> {
        Ok(rank_violations(&self.export().await?))
    }

    /// Removes all but the newest `keep` runs; returns how many went.
    ///
    /// It truncates each run stream up to the newest run being removed, so other events in a
    /// shared store are untouched (a store-wide retention pass would remove them too). Runs
    /// logged meanwhile are newer than every removed one and stay.
    pub async fn retain_newest(&self, keep: u64) -> Result<RetentionReport, LedgerError> {
        let newest_doomed = Filter {
            direction: Direction::Backward,
            offset: keep,
            limit: Some(1),
            ..run_filter()
        };
        let Some(cutoff) = self.store.query(&newest_doomed).await?.next().await else {
            return Ok(RetentionReport::default());
        };
        let cutoff: Position = cutoff?.position;
        let mut last_doomed: BTreeMap<StreamId, Version> = BTreeMap::new();
        let mut events = self.store.query(&run_filter()).await?;
        while let Some(event) = events.next().await {
            let event = event?;
            if event.position > cutoff {
                break;
            }
            last_doomed.insert(event.aggregate_id, event.version);
        }
        let mut report = RetentionReport::default();
        for (stream, version) in last_doomed {
            match self
                .store
                .truncate_before(&stream, version.next(), false)
                .await
            {
                Ok(removed) => {
                    report.removed += removed.removed;
                    report.protected += removed.protected;
                }
                // A run stream with a snapshot keeps what its snapshot does not cover; the pass
                // goes on with the other streams instead of stopping halfway.
                Err(annal_core::RetentionError::ProtectedBySnapshot { .. }) => {
                    report.protected += 1;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(report)
    }
}

/// Every `run:recorded` event, oldest first.
fn run_filter() -> Filter {
    Filter {
        event_types: vec![run_event_type()],
        ..Filter::all()
    }
}

fn run_event_type() -> EventType {
    builtin_type(RUN_EVENT_TYPE)
}

/// Decodes the run events of `events`, skipping other event types.
async fn collect_runs(mut events: EventStream) -> Result<Vec<RunEvent>, LedgerError> {
    let mut runs = Vec::new();
    while let Some(event) = events.next().await {
        if let Some(run) = RunEvent::from_recorded(&event?) {
            runs.push(run?);
        }
    }
    Ok(runs)
}
