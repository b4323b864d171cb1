//! The read side: every read is one statement on a pooled connection, retried on a fresh
//! connection when the old one was lost (see `retry`).
//!
//! Each page is its own statement, so it reads one read snapshot; a page never straddles a commit
//! it half sees. A read of several statements that must agree (a query page with its lookups,
//! the statistics, the check of the derived data) runs in one read-only repeatable-read
//! transaction ([`snapshot`]). Pages are keyed by position or version (never by `OFFSET` past the first
//! page), so memory stays bounded by a page however much is read.

mod events;
mod lookups;
mod postings;
mod query;
mod stats;
mod trace;

pub(crate) use events::{all_page, by_id as event_by_id, stream_page};
pub(crate) use lookups::{head, load_projection, load_snapshot, stream_version};
pub(crate) use query::{QueryCursor, query_page};
pub(crate) use stats::stats;
pub(crate) use trace::trace;

/// A read-only transaction whose statements all read one read snapshot.
pub(crate) async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}
