//! The embedded default backend of annal: an event store in one SQLite file.
//!
//! - [`SqliteStore`] implements [`annal_core::Store`] with the same rules as the in-memory
//!   reference backend, plus durability: an append is acknowledged only after its commit is on
//!   disk.
//! - [`OpenOptions`] chooses writer or read-only, [`Durability`], how long to wait for the
//!   writer lock, and the limits; [`OpenError`] says why a file could not be opened.
//! - [`backup()`] copies a store (live or not) into a new file; [`BackupError`] says why not.
//!
//! How it works:
//!
//! - **One writer thread, group commit.** Appends from any number of tasks queue up for a
//!   single thread, which runs everything queued as one transaction: one WAL fsync serves the
//!   whole group. Positions are assigned by that thread in commit order, so they have no gaps
//!   and a subscriber never sees an older position appear later. Each request in a group is
//!   decided alone (expected version in memory, ids through the unique index), so one refused
//!   append never fails its neighbours.
//! - **Durable on acknowledgment.** SQLite runs in WAL mode with `synchronous=FULL`, which
//!   fsyncs the WAL at every commit; the writer answers callers only after `COMMIT` returned.
//!   (`synchronous=NORMAL` in WAL mode would survive a killed process but lose the last commits
//!   on power loss; it is available only as the opt-in [`Durability::Relaxed`], with
//!   [`Store::flush`](annal_core::Store::flush) to make everything durable.)
//! - **Readers never block the writer.** Reads run on a small pool of read-only connections on
//!   tokio's blocking threads and page through results, so memory stays bounded.
//! - **Live subscriptions, in this process or another.** The writer publishes the new head
//!   after each commit; a read-only store polls `PRAGMA data_version` and publishes the same
//!   way, so a tailer in another process follows the writer live.
//! - **One writer per file.** An OS lock on `<db>.lock` is held for the writer's lifetime and
//!   released by the OS if the process dies. Read-only opens need no lock.
//! - **Refuses what it does not understand.** A file that is not an annal store, has a newer
//!   schema, is damaged (cheap checks at every open, `quick_check` after an unclean close,
//!   [`SqliteStore::integrity_check`] on demand) or is missing the WAL it was written through
//!   is reported and never modified. [`backup()`] copies a live store into a new file. A failed write poisons the store:
//!   writes are refused until it is reopened.
//!
//! The schema, and the measurements that chose it, are in `docs/sqlite-schema.md`.
//!
//! ```
//! use annal_core::{EventType, ExpectedVersion, NewEvent, ReadStreamOptions, Store, StreamId};
//! use annal_sqlite::SqliteStore;
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("swarm.db"))?;
//! let task = StreamId::new("task-1")?;
//! let created = NewEvent::new(EventType::new("task:created")?, json!({"title": "Index docs"}));
//! let appended = store.append(&task, ExpectedVersion::NoStream, vec![created]).await?;
//! assert_eq!(appended.stream_version.0, 1);
//!
//! let events = annal_core::collect(store.read_stream(&task, ReadStreamOptions::forward()).await?)
//!     .await?;
//! assert_eq!(events[0].payload.to_value()["title"], "Index docs");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod backup;
mod check;
mod clean_close;
mod connection;
mod creation;
mod derived;
mod error;
mod index_check;
mod lock;
mod open;
mod options;
mod poll;
mod read;
mod row;
mod schema;
mod spent;
mod store;
mod wal_marker;
mod wal_write_back;
mod writer;

pub use backup::{BackupError, backup};
pub use error::OpenError;
pub use open::MEMORY_PATH;
pub use options::{Durability, OpenOptions};
pub use store::SqliteStore;
