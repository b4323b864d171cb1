//! Errors of the run ledger: one enum for ledger operations, one for evaluator patterns.

use annal_core::{AppendError, EventId, InvalidName, ReadError, RetentionError};

/// Errors from [`RunLedger`](super::RunLedger) operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A task id or event id cannot name a stream or event (empty, too long, control
    /// characters).
    #[error("{what} {value:?} is not a valid identifier")]
    InvalidId {
        /// Which identifier (`task id`, `event id`).
        what: &'static str,
        /// The refused value.
        value: String,
        /// Why.
        #[source]
        source: InvalidName,
    },
    /// Appending a run event failed.
    #[error("recording run event {event_id} failed")]
    Append {
        /// The event.
        event_id: String,
        /// What failed.
        #[source]
        source: AppendError,
    },
    /// Reading run events failed.
    #[error("reading the run ledger failed")]
    Read(#[from] ReadError),
    /// Removing old run events failed.
    #[error("removing old run events failed")]
    Retention(#[from] RetentionError),
    /// A stored `run:recorded` event does not hold a run event.
    #[error("stored event {event_id} is not a valid run event")]
    Decode {
        /// The stored event.
        event_id: EventId,
        /// What did not fit.
        #[source]
        source: serde_json::Error,
    },
}

/// A forbidden-command pattern that is not a valid regular expression.
#[derive(Debug, thiserror::Error)]
#[error("forbidden-command pattern {pattern:?} is invalid")]
pub struct InvalidPattern {
    /// The pattern as given.
    pub pattern: String,
    /// Why it does not compile.
    #[source]
    pub source: regex::Error,
}
