//! The rules of the store, decided once for every backend: whether an append is a retry, is
//! refused or is written (and where), whether a snapshot is saved, and what truncation,
//! deletion and a retention pass remove.
//!
//! A backend looks up the state a rule needs (a stream's version, the last position, what its
//! id lookup found, the stored snapshot's version), calls the rule with those plain values,
//! and writes what the rule decided. No rule reads or writes storage, so each is tested here
//! without a backend, and the backends cannot drift apart in what they accept.
//!
//! Invariant: the order of the checks is part of the rules. For an append, a retry of a
//! stored batch wins over the expected-version check, which wins over every counter bound.

mod append;
mod removal;
mod retention;
mod retry;
mod snapshot;

pub use append::{
    AppendDecision, AppendState, CounterBounds, Placement, PositionsExhausted, append, place,
};
pub use removal::{delete_stream, truncate_before};
pub use retention::{RetentionPass, RetentionVerdict};
pub use retry::{RetryCheck, StoredEventRef, check_retry};
pub use snapshot::{save_snapshot, snapshot_well_formed};
