//! [`NdjsonStore`]: the [`Store`] implementation over one NDJSON store directory.
//!
//! Writes travel to the writer thread as commands and wait for their answer; reads locate
//! lines through the shared index and read them on tokio's blocking threads. A store handle is
//! cheap to clone; the last clone to go stops the writer (or follower) thread and releases the
//! writer lock before its drop returns, so the same process can reopen the directory at once.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal_core::backend::{Append, PAGE_EVENTS, Reply, follow, paged, prepare_batch};
use annal_core::{
    AppendError, AppendResult, CheckpointError, Clock, Direction, EventId, EventStream,
    ExpectedVersion, Filter, Limits, NewEvent, Position, ProjectionName, ReadError,
    ReadStreamOptions, RecordedEvent, RetentionError, RetentionPolicy, RetentionReport,
    SavedProjection, Snapshot, SnapshotError, Stats, StorageError, Store, StreamId, Version,
};
use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::watch;

use crate::error::OpenError;
use crate::file_names::{legacy_file_name, sidecar_files};
use crate::layout::{INDEX_FILE, Layout, SNAPSHOTS_DIR, STREAMS_FILE};
use crate::lock::WriterLock;
use crate::options::OpenOptions;
use crate::poll::Poller;
use crate::read::{self, QueryCursor};
use crate::recovery::Recovery;
use crate::sidecar::{ProjectionFile, load_snapshot_file};
use crate::writer::{Command, SharedIndex, WriterHandle, read_index};

/// An annal store in an NDJSON directory. Cloning gives another handle to the same store.
///
/// See the crate documentation for the layout and guarantees.
#[derive(Clone)]
pub struct NdjsonStore {
    shared: Arc<Shared>,
    /// The writer or follower; `None` in the read view that subscriptions hold, so a
    /// subscription never keeps the writer thread or the lock alive.
    handle: Option<Arc<Handle>>,
}

struct Shared {
    layout: Layout,
    index: SharedIndex,
    head: watch::Receiver<Position>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    recovery: Recovery,
}

/// What a store handle owns besides its index; dropping it stops the threads and releases the
/// lock, in that order.
#[derive(Debug)]
pub(crate) struct Handle {
    writer: Option<WriterHandle>,
    poller: Option<Poller>,
    lock: Option<WriterLock>,
}

impl Handle {
    pub(crate) fn writer(writer: WriterHandle, lock: WriterLock) -> Self {
        Self {
            writer: Some(writer),
            poller: None,
            lock: Some(lock),
        }
    }

    pub(crate) fn read_only(poller: Poller) -> Self {
        Self {
            writer: None,
            poller: Some(poller),
            lock: None,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The writer answers what is queued and refreshes index.json before the lock goes, so
        // the next writer never meets a half-finished one.
        if let Some(writer) = self.writer.take() {
            writer.stop();
        }
        if let Some(poller) = self.poller.take() {
            poller.stop();
        }
        drop(self.lock.take());
    }
}

impl std::fmt::Debug for NdjsonStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdjsonStore")
            .field("dir", &self.shared.layout.dir())
            .field("head", &*self.shared.head.borrow())
            .field("read_only", &self.writer().is_none())
            .finish_non_exhaustive()
    }
}

impl NdjsonStore {
    /// Opens (creating if needed) the store in directory `dir` for writing, with default
    /// options.
    ///
    /// Blocks on file I/O (it scans the whole log); from async code, call it via
    /// `spawn_blocking`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with(dir, OpenOptions::default())
    }

    /// Opens the store in `dir` with `options`.
    pub fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Self, OpenError> {
        crate::open::open(dir.as_ref(), options)
    }

    /// Opens the store in `dir` read-only, alongside any writer. Nothing in the directory is
    /// modified, not even a torn tail.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with(dir, OpenOptions::default().read_only())
    }

    pub(crate) fn new(
        layout: Layout,
        options: OpenOptions,
        head: watch::Receiver<Position>,
        index: SharedIndex,
        recovery: Recovery,
        handle: Handle,
    ) -> Self {
        let shared = Shared {
            layout,
            index,
            head,
            limits: options.limits,
            clock: options.clock,
            recovery,
        };
        Self {
            shared: Arc::new(shared),
            handle: Some(Arc::new(handle)),
        }
    }

    /// The store directory.
    pub fn dir(&self) -> PathBuf {
        self.shared.layout.dir().to_path_buf()
    }

    /// What opening the store found and repaired (a torn tail, a stale index).
    pub fn recovery(&self) -> &Recovery {
        &self.shared.recovery
    }

    /// Compares the derived index (`index.sqlite`) with the log up to its watermark, table by
    /// table; each problem is one line (`annal verify` prints them). A store read without one
    /// has nothing to compare. Holds the log's index up to the watermark in memory while it runs.
    pub async fn check_index(&self) -> Result<Vec<String>, ReadError> {
        let index = Arc::clone(&self.shared.index);
        blocking(move || crate::disk::check::check_against_log(&index)).await
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

    fn events_path(&self) -> Arc<Path> {
        Arc::from(self.shared.layout.events().as_path())
    }

    fn bytes_on_disk(&self) -> u64 {
        let layout = &self.shared.layout;
        [
            layout.events(),
            layout.file(INDEX_FILE),
            layout.file(STREAMS_FILE),
        ]
        .iter()
        .map(|path| std::fs::metadata(path).map_or(0, |m| m.len()))
        .sum()
    }
}

/// How many pages a full read decodes ahead of its caller.
const READ_AHEAD_PAGES: usize = 2;

/// The pages of a full read being decoded ahead, and where the pages after them start.
struct ReadAhead {
    next: Option<Position>,
    pages: VecDeque<tokio::task::JoinHandle<Result<Vec<RecordedEvent>, ReadError>>>,
}

/// Runs blocking file work on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StorageError::backend("a read task failed", error))?
}

/// The number of snapshot files (annal's own files only, temp files of interrupted writes not
/// counted).
fn count_snapshots(dir: &Path) -> u64 {
    sidecar_files(dir).map_or(0, |names| names.len() as u64)
}

/// The file holding `name`'s snapshot or projection: its current name, or, in a store no writer
/// has opened since format version 1, its old name.
fn sidecar_path(current: PathBuf, name: &str) -> PathBuf {
    if current.exists() {
        return current;
    }
    match (legacy_file_name(name), current.parent()) {
        (Some(legacy), Some(dir)) if dir.join(&legacy).exists() => dir.join(legacy),
        _ => current,
    }
}

#[async_trait]
impl Store for NdjsonStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError> {
        if self.writer().is_none() {
            return Err(StorageError::ReadOnly.into());
        }
        let batch = prepare_batch(events, &self.shared.limits, self.shared.clock.now_ms())?;
        let stream = stream.clone();
        self.send(|reply| {
            Command::Append(Append {
                stream,
                expected,
                batch,
                reply,
            })
        })
        .await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, ReadError> {
        let index = read_index(&self.shared.index)?;
        Ok(Version(index.stream_version(stream.as_str())))
    }

    async fn head(&self) -> Result<Position, ReadError> {
        Ok(Position(read_index(&self.shared.index)?.last_position))
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        options: ReadStreamOptions,
    ) -> Result<EventStream, ReadError> {
        let index = Arc::clone(&self.shared.index);
        let path = self.events_path();
        let stream = stream.clone();
        // A read of a few events reads no more lines than it returns.
        let page = options
            .limit
            .map_or(PAGE_EVENTS, |limit| {
                usize::try_from(limit).unwrap_or(usize::MAX)
            })
            .clamp(1, PAGE_EVENTS);
        let events = paged(None, move |after: Option<u64>| {
            let index = Arc::clone(&index);
            let path = Arc::clone(&path);
            let stream = stream.clone();
            async move {
                let page = blocking(move || {
                    read::stream_page(
                        &index,
                        &path,
                        stream.as_str(),
                        options.direction,
                        options.from.map(|v| v.0),
                        after,
                        page,
                    )
                })
                .await?;
                let cursor = page.last().map(|event| event.version.0);
                Ok(cursor.map(|cursor| (page, Some(cursor))))
            }
        });
        Ok(match options.limit {
            Some(limit) => events
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .boxed(),
            None => events,
        })
    }

    async fn read_all(&self, from: Position) -> Result<EventStream, ReadError> {
        let index = Arc::clone(&self.shared.index);
        let path = self.events_path();
        let start = ReadAhead {
            next: Some(from),
            pages: VecDeque::new(),
        };
        Ok(paged(start, move |mut ahead: ReadAhead| {
            let index = Arc::clone(&index);
            let path = Arc::clone(&path);
            async move {
                // Decode the next pages on blocking threads while the caller consumes this
                // one: decoding JSON is the cost of a full read, and it spreads over cores.
                if ahead.pages.is_empty()
                    && let Some(from) = ahead.next
                {
                    let (starts, after) =
                        read::page_starts(&index, from, PAGE_EVENTS, READ_AHEAD_PAGES)?;
                    let ends = starts.iter().skip(1).copied().map(Some).chain([after]);
                    for (start, until) in starts.iter().copied().zip(ends) {
                        let index = Arc::clone(&index);
                        let path = Arc::clone(&path);
                        ahead.pages.push_back(tokio::task::spawn_blocking(move || {
                            read::all_page(&index, &path, start, until, PAGE_EVENTS)
                        }));
                    }
                    ahead.next = after;
                }
                let Some(page) = ahead.pages.pop_front() else {
                    return Ok(None);
                };
                let page = page
                    .await
                    .map_err(|error| StorageError::backend("a read task failed", error))??;
                if page.is_empty() && ahead.pages.is_empty() && ahead.next.is_none() {
                    return Ok(None);
                }
                Ok(Some((page, ahead)))
            }
        }))
    }

    async fn query(&self, filter: &Filter) -> Result<EventStream, ReadError> {
        filter.validate()?;
        let index = Arc::clone(&self.shared.index);
        let path = self.events_path();
        let filter = Arc::new(filter.clone());
        let start = match filter.direction {
            Direction::Forward => Position(1),
            Direction::Backward => Position(u64::MAX),
        };
        let cursor = QueryCursor {
            next: Some(start),
            skipped: 0,
            taken: 0,
        };
        Ok(paged(cursor, move |cursor: QueryCursor| {
            let index = Arc::clone(&index);
            let path = Arc::clone(&path);
            let filter = Arc::clone(&filter);
            blocking(move || {
                crate::indexed::query_page(&index, &path, &filter, cursor, PAGE_EVENTS)
            })
        }))
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
        let path = self.shared.layout.snapshot(stream.as_str());
        let stream = stream.clone();
        blocking(move || {
            let path = sidecar_path(path, stream.as_str());
            load_snapshot_file(&path, stream.as_str()).map_err(|reason| {
                StorageError::Corrupted {
                    location: path.display().to_string(),
                    reason,
                }
                .into()
            })
        })
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
        let index = Arc::clone(&self.shared.index);
        let path = self.events_path();
        let id = id.clone();
        blocking(move || read::event_by_id(&index, &path, id.as_str())).await
    }

    async fn stats(&self, top_streams: usize) -> Result<Stats, ReadError> {
        let mut stats = read_index(&self.shared.index)?.stats(top_streams);
        let store = self.clone();
        let (snapshots, bytes) = blocking(move || {
            let dir = store.shared.layout.file(SNAPSHOTS_DIR);
            Ok((count_snapshots(&dir), store.bytes_on_disk()))
        })
        .await?;
        stats.snapshot_count = snapshots;
        stats.bytes_on_disk = Some(bytes);
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
        let path = self.shared.layout.projection(name.as_str());
        let name = name.clone();
        blocking(move || {
            let path = sidecar_path(path, name.as_str());
            let corrupted = |reason: String| StorageError::Corrupted {
                location: path.display().to_string(),
                reason,
            };
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(error) => {
                    let context = format!("reading {}", path.display());
                    return Err(StorageError::backend(context, error).into());
                }
            };
            let file: ProjectionFile =
                serde_json::from_slice(&bytes).map_err(|e| corrupted(e.to_string()))?;
            if file.name != name.as_str() {
                return Err(corrupted(format!("the file holds projection {}", file.name)).into());
            }
            Ok(Some(SavedProjection {
                checkpoint: file.checkpoint,
                state: file.state,
            }))
        })
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
