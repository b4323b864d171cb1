//! The guidance run ledger: one [`RunEvent`] per agent task run, stored in annal as event type
//! `run:recorded` in stream `run-<taskId>`, with the seed's queries, evaluators and metrics.
//!
//! Unlike the seed's NDJSON ledger, nothing lives only in memory: [`RunLedger`] reads and writes
//! through any `Arc<dyn Store>`, a logged event keeps its id (so a retried log is a no-op), an
//! import skips what is already stored, and retention removes the oldest runs by truncating
//! their streams, which leaves other events in a shared store alone.

mod error;
mod evaluators;
mod metrics;
mod retention;
mod run_event;
mod run_ledger;

pub use error::{InvalidPattern, LedgerError};
pub use evaluators::{
    DiffQuality, Evaluator, EvaluatorKind, EvaluatorResult, ForbiddenCommandScan,
    ForbiddenDependencyScan, TestsPass, ViolationRate, default_evaluators,
};
pub use metrics::{OptimizationMetrics, ViolationRanking, compute_metrics, rank_violations};
pub use retention::{RetentionStatus, RetentionTask, spawn_retention};
pub use run_event::{
    DiffSummary, RUN_AGGREGATE_TYPE, RUN_EVENT_TYPE, RunEvent, Severity, TaskIntent, TestResults,
    Violation, run_stream,
};
pub use run_ledger::{ImportReport, RunLedger};
