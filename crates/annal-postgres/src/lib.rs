//! The PostgreSQL backend of annal: one database shared by any number of annal processes.
//!
//! - [`PostgresStore`] implements [`annal_core::Store`] with the same rules as the in-memory
//!   reference backend, plus durability: an append is acknowledged only after its `COMMIT`
//!   returned with `synchronous_commit = on`.
//! - [`PostgresOptions`] sets the pool size, the limits, the clock and the fallback poll;
//!   [`ConnectError`] says why a database could not be opened.
//!
//! How it works (the ordering argument is in `docs/postgres-ordering.md`):
//!
//! - **Positions in commit order, without gaps, across processes.** Each process runs one
//!   writer task that drains a queue of appends into one transaction. The transaction locks its
//!   streams' rows and decides expected versions and retries; only then does one statement
//!   lock the single `meta` row that holds the head position (by moving it), insert the
//!   group's rows at the positions after it, and the `COMMIT` follows in the same round trip.
//!   The head row's lock is held until commit, so positions are handed out in commit order,
//!   and a reader that sees an event at position p sees every event below it.
//! - **Live subscriptions.** `LISTEN`/`NOTIFY` on a dedicated connection outside the pool,
//!   held while the store has a live subscription, is only a wake-up; a slow poll of the head
//!   row backs it up. Subscribers read from the table
//!   ([`annal_core::backend::follow`]), so a lost notification or connection delays but never
//!   loses an event; reads retry on a lost connection and resume after the last delivered
//!   position.
//! - **Schema owned by annal.** [`PostgresStore::connect`] creates or migrates the tables
//!   (versions recorded in `schema_migrations`), under an advisory lock so that processes
//!   starting together migrate once.
//!
//! ```no_run
//! use annal_core::{EventType, ExpectedVersion, NewEvent, Store, StreamId};
//! use annal_postgres::PostgresStore;
//! use serde_json::json;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! // A URL or a libpq key=value string; this one is a Unix socket directory.
//! let store = PostgresStore::connect("host=/var/run/postgresql user=annal dbname=annal").await?;
//! let task = StreamId::new("task-1")?;
//! let created = NewEvent::new(EventType::new("task:created")?, json!({"title": "Index docs"}));
//! let appended = store.append(&task, ExpectedVersion::NoStream, vec![created]).await?;
//! assert_eq!(appended.stream_version.0, 1);
//! # Ok(())
//! # }
//! ```

mod check;
mod connection_string;
mod error;
mod listen;
mod options;
mod read;
mod retry;
mod row;
mod schema;
mod store;
mod tls;
mod writer;

pub use connection_string::parse_connection_string;
pub use error::ConnectError;
pub use options::PostgresOptions;
pub use store::PostgresStore;
pub use tls::{TlsMode, TlsOptions};
/// The parsed connection settings that [`PostgresStore::connect_with`] takes.
pub use tokio_postgres::Config;
