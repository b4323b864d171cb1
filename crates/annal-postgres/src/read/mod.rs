//! The read side: every read is one statement on a pooled connection, retried on a fresh
//! connection when the old one was lost (see `retry`).
//!
//! Each page is its own statement, so it reads one read snapshot; a page never straddles a commit
//! it half sees. Pages are keyed by position or version (never by `OFFSET` past the first
//! page), so memory stays bounded by a page however much is read.

mod events;
mod lookups;
mod query;
mod stats;

pub(crate) use events::{all_page, by_id as event_by_id, stream_page};
pub(crate) use lookups::{head, load_projection, load_snapshot, stream_version};
pub(crate) use query::{QueryCursor, query_page};
pub(crate) use stats::stats;
