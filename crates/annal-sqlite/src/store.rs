//! [`SqliteStore`]: the [`Store`] implementation over one SQLite file.
//!
//! Writes travel to the writer thread as commands and wait for their answer; reads run on
//! pooled read-only connections on tokio's blocking threads. A store handle is cheap to clone;
//! the last clone to go stops the writer (or watcher) thread and releases the writer lock
//! before its drop returns, so the same process can reopen the file at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal_core::backend::{
    BatchPreparer, PAGE_EVENTS, Reply, StreamPage, follow, prepare_batch, stream_pages,
};
use annal_core::{
    AppendError, AppendResult, CheckpointError, Clock, EventId, EventStream, ExpectedVersion,
    Filter, Limits, NewEvent, Position, ProjectionName, ReadError, ReadStreamOptions,
    RecordedEvent, RetentionError, RetentionPolicy, RetentionReport, SavedProjection, Snapshot,
    SnapshotError, Stats, StorageError, Store, StreamId, Version,
};
use async_trait::async_trait;
use tokio::sync::{oneshot, watch};

use crate::error::OpenError;
use crate::lock::WriterLock;
use crate::options::OpenOptions;
use crate::poll::Poller;
use crate::read::{self, QueryCursor, Readers};
use crate::spent::SpentEvents;
use crate::writer::{AppendAnswer, Command, MoreParts, SqliteAppend, WriterHandle, writer_gone};

/// An annal store in one SQLite file. Cloning gives another handle to the same store.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
    /// The writer or watcher; `None` in the read view that subscriptions hold, so a
    /// subscription never keeps the writer thread or the lock alive.
    handle: Option<Arc<Handle>>,
}

struct Shared {
    readers: Arc<Readers>,
    head: watch::Receiver<Position>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    /// Whether `bytes_on_disk` means anything to the caller (`false` for `:memory:`).
    on_disk: bool,
    /// The last answered append's events, freed by the next append while it waits.
    spent: SpentEvents,
}

/// What a store handle owns besides its readers; dropping it stops the threads and releases
/// the lock, in that order.
#[derive(Debug)]
pub(crate) struct Handle {
    /// The database file (for the clean-close record).
    path: PathBuf,
    writer: Option<WriterHandle>,
    poller: Option<Poller>,
    lock: Option<WriterLock>,
    temp_dir: Option<tempfile::TempDir>,
}

impl Handle {
    pub(crate) fn writer(
        writer: WriterHandle,
        lock: WriterLock,
        temp_dir: Option<tempfile::TempDir>,
        path: &Path,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            writer: Some(writer),
            poller: None,
            lock: Some(lock),
            temp_dir,
        }
    }

    pub(crate) fn read_only(poller: Poller, path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            writer: None,
            poller: Some(poller),
            lock: None,
            temp_dir: None,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The writer answers what is queued, commits, and closes its connection before the lock
        // goes, so the next writer never meets a half-closed one.
        if let Some(writer) = self.writer.take() {
            let clean = writer.stop();
            if let Some(lock) = &mut self.lock {
                // After a clean close the next writer may skip `quick_check`.
                lock.record_close(&self.path, clean);
            }
        }
        if let Some(poller) = self.poller.take() {
            poller.stop();
        }
        drop(self.lock.take());
        drop(self.temp_dir.take());
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.readers.path())
            .field("head", &*self.shared.head.borrow())
            .field("read_only", &self.writer().is_none())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` for writing, with default options.
    ///
    /// Blocks on file I/O; from async code with a lock timeout, call it via `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with(path, OpenOptions::default())
    }

    /// Opens the store at `path` with `options`. The path `:memory:` opens a private store that
    /// disappears when its last handle is dropped.
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self, OpenError> {
        crate::open::open(path.as_ref(), options)
    }

    /// Opens the store at `path` read-only, alongside any writer.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with(path, OpenOptions::default().read_only())
    }

    /// Runs SQLite's full `integrity_check` on the store at `path`: every page, and every index
    /// entry against its row (`annal verify --deep`). Reads one read snapshot on a read-only
    /// connection, beside any writer; it takes about as long as reading the whole file.
    pub fn integrity_check(path: impl AsRef<Path>) -> Result<(), OpenError> {
        let path = path.as_ref();
        match crate::schema::inspect(path, None)? {
            crate::schema::Found::Annal(_) => crate::check::integrity_check(path),
            crate::schema::Found::Missing => Err(OpenError::NotFound {
                path: path.to_path_buf(),
            }),
            crate::schema::Found::Empty => Err(OpenError::NotAnnalStore {
                path: path.to_path_buf(),
                reason: "it is empty (a writer creates the store)".into(),
            }),
        }
    }

    /// Compares the derived index (postings, time blocks, maintained counts) with the events it
    /// describes, as `annal verify` does; returns the problems found, each naming its table. It
    /// reads the whole log in one read snapshot, beside any writer. A store whose index disagrees
    /// still answers correctly once its writer reopens it after the index tables are dropped: the
    /// open rebuilds a missing index.
    pub async fn check_index(&self) -> Result<Vec<String>, ReadError> {
        self.shared
            .readers
            .run(crate::index_check::check_index)
            .await
    }

    pub(crate) fn new(
        path: &Path,
        options: OpenOptions,
        head: watch::Receiver<Position>,
        handle: Handle,
    ) -> Self {
        let on_disk = handle.temp_dir.is_none();
        let readers = Readers::new(path);
        readers.warm();
        let shared = Shared {
            readers: Arc::new(readers),
            head,
            limits: options.limits,
            clock: options.clock,
            on_disk,
            spent: SpentEvents::default(),
        };
        Self {
            shared: Arc::new(shared),
            handle: Some(Arc::new(handle)),
        }
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.shared.readers.path().to_path_buf()
    }

    fn writer(&self) -> Option<&WriterHandle> {
        self.handle
            .as_ref()
            .and_then(|handle| handle.writer.as_ref())
    }

    /// A handle that reads this store but owns neither the writer nor the lock.
    fn read_view(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            handle: None,
        }
    }

    /// Sends a command to the writer and waits for its answer.
    async fn send<T, E>(&self, command: impl FnOnce(Reply<T, E>) -> Command) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let Some(writer) = self.writer() else {
            return Err(StorageError::ReadOnly.into());
        };
        writer.queue().request(command).await
    }

    /// Appends a batch of more than [`PART_EVENTS`] events in parts: the writer starts
    /// inserting the first part while this thread checks the next ones (`writer/parts.rs`).
    async fn append_in_parts(
        &self,
        writer: &WriterHandle,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError> {
        let total = events.len();
        let limits = &self.shared.limits;
        let mut preparer = BatchPreparer::new(total, limits, self.shared.clock.now_ms())?;
        let mut events = events.into_iter();
        let batch = preparer.prepare(events.by_ref().take(FIRST_PART_EVENTS).collect())?;
        let (sender, parts) = std::sync::mpsc::channel();
        let (reply, answer) = oneshot::channel();
        let command = Command::Append(SqliteAppend {
            stream: stream.clone(),
            expected,
            batch,
            more: Some(MoreParts { total, parts }),
            reply,
        });
        let sent = writer.queue().send(command).await.is_ok();
        // No await from here to the last part: once the writer has the first part, the others
        // always follow, or the sender is dropped before the last one. Every part is checked
        // even when the writer stopped listening (a failed or poisoned store): as for a batch
        // checked whole, a bad event is the answer whatever the writer would have said.
        let mut listening = sent;
        loop {
            let part: Vec<NewEvent> = events.by_ref().take(PART_EVENTS).collect();
            if part.is_empty() {
                break;
            }
            // A refused part returns here and drops `sender` before the last part: the writer
            // then writes nothing of the batch, and its answer goes unread.
            let part = preparer.prepare(part)?;
            if listening {
                listening = sender.send(part).is_ok();
            }
        }
        drop(sender);
        if !sent {
            return Err(writer_gone().into());
        }
        self.answer(writer, answer).await
    }

    /// Waits for the writer's answer to an append, freeing the previous append's events
    /// meanwhile (`spent.rs`).
    async fn answer(
        &self,
        writer: &WriterHandle,
        answer: oneshot::Receiver<AppendAnswer>,
    ) -> Result<AppendResult, AppendError> {
        self.shared.spent.free();
        let answer = writer.queue().answer(answer).await?;
        self.shared.spent.keep(answer.events);
        answer.result
    }

    fn bytes_on_disk(&self) -> Option<u64> {
        if !self.shared.on_disk {
            return None;
        }
        let path = self.shared.readers.path();
        let size = |suffix: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name)).map_or(0, |metadata| metadata.len())
        };
        Some(size("") + size("-wal"))
    }
}

/// Positions per range of a filtered scan of the log: wider than a page of the whole log, since a
/// filter keeps only some events of each range, and each range costs three statements. With
/// three ranges in flight, a filter that keeps every event holds at most 24,576 in memory.
/// Narrower ranges and page-by-page reads measured slower (figures in `BENCHMARKS.md`,
/// "Figures behind constants in the code").
const SCAN_RANGE_POSITIONS: u64 = 16 * PAGE_EVENTS as u64;

/// Batches larger than this are appended in parts of this many events (`writer/parts.rs`).
const PART_EVENTS: usize = 128;

/// Events in the first part of a batch appended in parts: the writer waits for the caller to
/// check it, and starts on it while the caller checks the rest, so a small first part lets it
/// start sooner.
const FIRST_PART_EVENTS: usize = 32;

#[async_trait]
impl Store for SqliteStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError> {
        let Some(writer) = self.writer() else {
            return Err(StorageError::ReadOnly.into());
        };
        if events.len() > PART_EVENTS {
            return self.append_in_parts(writer, stream, expected, events).await;
        }
        let batch = prepare_batch(events, &self.shared.limits, self.shared.clock.now_ms())?;
        let (reply, answer) = oneshot::channel();
        let command = Command::Append(SqliteAppend {
            stream: stream.clone(),
            expected,
            batch,
            more: None,
            reply,
        });
        writer.queue().send(command).await?;
        self.answer(writer, answer).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, ReadError> {
        let stream = stream.clone();
        self.shared
            .readers
            .run(move |connection| read::stream_version(connection, &stream))
            .await
    }

    async fn head(&self) -> Result<Position, ReadError> {
        self.shared.readers.run(read::head).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        options: ReadStreamOptions,
    ) -> Result<EventStream, ReadError> {
        let readers = Arc::clone(&self.shared.readers);
        let stream = stream.clone();
        Ok(stream_pages(options, move |page: StreamPage| {
            let readers = Arc::clone(&readers);
            let stream = stream.clone();
            async move {
                readers
                    .run_with_names(move |connection, names| {
                        read::stream_page(
                            connection,
                            names,
                            &stream,
                            page.direction,
                            page.bound,
                            page.events,
                        )
                    })
                    .await
            }
        }))
    }

    async fn read_all(&self, from: Position) -> Result<EventStream, ReadError> {
        Ok(read::read_ranges(
            &self.shared.readers,
            from,
            PAGE_EVENTS as u64,
            read::range_page,
        ))
    }

    async fn query(&self, filter: &Filter) -> Result<EventStream, ReadError> {
        filter.validate()?;
        if read::index_serves(filter) {
            let filter = filter.clone();
            return Ok(read::read_ahead(
                &self.shared.readers,
                read::IndexedCursor::start(&filter),
                move |connection, names, cursor| {
                    let page = read::indexed_page(connection, names, &filter, cursor, PAGE_EVENTS)?;
                    Ok(page.map(|(events, next)| (events, Some(next))))
                },
            ));
        }
        if let Some((condition, values)) = read::scan_condition(filter) {
            return Ok(read::read_ranges(
                &self.shared.readers,
                Position::START,
                SCAN_RANGE_POSITIONS,
                move |connection, names, first, last| {
                    read::range_page_where(
                        connection,
                        names,
                        first,
                        last,
                        Some(&condition),
                        &values,
                    )
                },
            ));
        }
        let filter = filter.clone();
        let start = QueryCursor {
            after: None,
            remaining: filter.limit,
        };
        Ok(read::read_ahead(
            &self.shared.readers,
            start,
            move |connection, names, cursor| {
                let page = read::query_page(connection, names, &filter, cursor, PAGE_EVENTS)?;
                Ok(page.map(|(events, next)| (events, Some(next))))
            },
        ))
    }

    async fn subscribe(&self, from: Position, filter: Filter) -> Result<EventStream, ReadError> {
        follow(self.read_view(), self.shared.head.clone(), from, filter)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), SnapshotError> {
        annal_core::decide::snapshot_well_formed(&snapshot)?;
        self.send(|reply| Command::SaveSnapshot { snapshot, reply })
            .await
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, ReadError> {
        let stream = stream.clone();
        self.shared
            .readers
            .run(move |connection| read::load_snapshot(connection, &stream))
            .await
    }

    async fn truncate_before(
        &self,
        stream: &StreamId,
        before: Version,
        force: bool,
    ) -> Result<RetentionReport, RetentionError> {
        let stream = stream.clone();
        self.send(|reply| Command::Truncate {
            stream,
            before,
            force,
            reply,
        })
        .await
    }

    async fn delete_stream(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> Result<RetentionReport, RetentionError> {
        let stream = stream.clone();
        self.send(|reply| Command::Delete {
            stream,
            expected,
            reply,
        })
        .await
    }

    async fn retain(&self, policy: RetentionPolicy) -> Result<RetentionReport, RetentionError> {
        self.send(|reply| Command::Retain { policy, reply }).await
    }

    async fn event_by_id(&self, id: &EventId) -> Result<Option<RecordedEvent>, ReadError> {
        let id = id.clone();
        self.shared
            .readers
            .run_with_names(move |connection, names| read::event_by_id(connection, names, &id))
            .await
    }

    async fn stats(&self, top_streams: usize) -> Result<Stats, ReadError> {
        let mut stats = self
            .shared
            .readers
            .run(move |connection| read::stats(connection, top_streams))
            .await?;
        stats.bytes_on_disk = self.bytes_on_disk();
        Ok(stats)
    }

    async fn save_projection(
        &self,
        name: &ProjectionName,
        saved: &SavedProjection,
    ) -> Result<(), CheckpointError> {
        let name = name.clone();
        let saved = saved.clone();
        self.send(|reply| Command::SaveProjection { name, saved, reply })
            .await
    }

    async fn load_projection(
        &self,
        name: &ProjectionName,
    ) -> Result<Option<SavedProjection>, ReadError> {
        let name = name.clone();
        self.shared
            .readers
            .run(move |connection| read::load_projection(connection, &name))
            .await
    }

    async fn flush(&self) -> Result<(), StorageError> {
        if self.writer().is_none() {
            // A read-only store acknowledged nothing, so it has nothing to make durable.
            return Ok(());
        }
        self.send(|reply| Command::Flush { reply }).await
    }
}
