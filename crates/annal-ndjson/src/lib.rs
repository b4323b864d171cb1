//! An annal backend in a human-readable, greppable NDJSON directory: the layout of the seed's
//! run ledger (`events.ndjson`, `index.json`, `.lock`), made safe.
//!
//! - [`NdjsonStore`] implements [`annal_core::Store`] with the same rules as the in-memory
//!   reference backend, plus durability; [`OpenOptions`] chooses writer or read-only,
//!   [`Durability`], the lock wait and the limits; [`OpenError`] says why a directory could not
//!   be opened; [`Recovery`] reports what opening found and repaired.
//! - [`backup`] copies a store into a new directory while its writer keeps appending.
//! - [`read_seed_ledger`] reads an existing seed ledger directory read-only, line by line, so
//!   the CLI can import it.
//!
//! How it works:
//!
//! - **One line per event, one fsync per group.** `events.ndjson` holds one compact JSON
//!   envelope per line (the `RecordedEvent` fields plus `batchSize` and a CRC-32C of the line).
//!   Appends from any number of tasks queue up for a single writer thread, which encodes
//!   everything queued, writes it with one `write` and makes it durable with one `fdatasync`
//!   before anyone is answered, then publishes the synced length in `head.json`.
//! - **Recovery instead of silent loss.** On open the log is scanned after the derived index's
//!   watermark (all of it without one): a torn last batch after the synced length (a crash
//!   mid-append, never acknowledged) is reported and cut off before anything is appended; a bad
//!   line before the synced length, or followed by good lines, is damage to acknowledged data,
//!   and the open fails naming the file, line and byte offset. Lines before the watermark are
//!   checked by every read that reaches them and by [`NdjsonStore::check_index`].
//! - **The log is the truth.** `index.json` is a summary rebuilt from the log; counters that
//!   outlive removed events live in `streams.json`; snapshots and projections are one small file
//!   each. Every such file, and the log itself when a removal compacts it, is replaced
//!   atomically (temp file, fsync, rename, fsync of the directory).
//! - **Small memory, fast opens.** The index holds each event's byte offset and length (by
//!   position, per stream, per posting and by id), never the events. Up to a watermark it lives
//!   in `index.sqlite`, a SQLite database derived from the log and rebuilt from it when it
//!   cannot be trusted; the writer moves the events after it there every 65,536 events and at
//!   close, so memory holds only those and an open scans only those. Reads `pread` pages of
//!   lines on tokio's blocking threads.
//! - **One writer, live readers.** A real OS lock on `.lock` (released by the OS if the holder
//!   dies) admits one writer; read-only opens in any process follow it by polling the log, up
//!   to the synced length only.
//!
//! The format, its invariants and recovery are specified in `docs/ndjson-format.md`.
//!
//! ```
//! use annal_core::{EventType, ExpectedVersion, NewEvent, ReadStreamOptions, Store, StreamId};
//! use annal_ndjson::NdjsonStore;
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = NdjsonStore::open(dir.path().join("ledger"))?;
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

mod atomic;
mod backup;
mod build;
mod disk;
mod error;
mod file_names;
mod head;
mod ids;
mod index;
mod indexed;
mod layout;
mod line;
mod lock;
mod open;
mod options;
mod poll;
mod postings;
mod read;
mod recovery;
mod scan;
mod seed;
mod sidecar;
mod store;
mod tidy;
mod writer;

pub use backup::{BackupError, BackupSummary, backup};
pub use error::OpenError;
pub use options::{Durability, OpenOptions};
pub use recovery::{HeadStatus, IndexStatus, Recovery, TornTail};
pub use seed::{SeedError, SeedLedger, SeedLine, read_seed_ledger};
pub use sidecar::FORMAT_VERSION;
pub use store::NdjsonStore;
