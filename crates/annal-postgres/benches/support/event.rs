//! The event the append benchmark and the `cpu_per_append` example write: the same note the
//! SQLite benchmarks use, a payload of about 300 bytes of JSON.

use annal_core::{EventType, NewEvent};
use serde_json::json;

/// About 300 bytes of plain text, the payload's bulk.
pub(crate) fn note() -> String {
    "the agent finished the step and wrote its findings to memory; ".repeat(4)
}

/// The `n`th event of a run.
pub(crate) fn event(n: u64) -> NewEvent {
    NewEvent::new(
        EventType::new("agent:step").unwrap(),
        json!({ "n": n, "note": note() }),
    )
    .with_source("orchestrator")
}
