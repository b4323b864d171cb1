//! The writer's side of the derived index (`disk/`): its own connection, the passes that move
//! the in-memory tail to disk, and the ids stored there.
//!
//! Every appended id is checked for a duplicate. The ids on disk are behind a Bloom filter
//! ([`BloomFilter`]) so that check almost never reads them. An open does not wait for the filter:
//! after the writer's first commit (so neither the open nor the first append competes with it
//! for the disk), a thread reads the stored ids into it while the writer appends, and until it
//! is ready every check looks the id up on disk (a bucket of the `ids` table), so a check is
//! never skipped.
//! Each pass adds its ids to the filter (or, while it loads, to the ids it will be given).
//!
//! A pass due while appends go on runs on a thread of its own, over a clone of the index, with
//! a connection of its own: the writer goes on committing meanwhile, and forgets the entries
//! the pass moved once it has landed ([`Index::moved_to_disk_through`]). Passes at the open, at
//! a clean close and in a compaction run on the writer's connection, each after the one
//! running beside the writer has landed, so two never write at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use annal_core::backend::BloomFilter;
use rusqlite::Connection;

use crate::disk::lookup;
use crate::disk::lookup::blob;
use crate::disk::pass::write_pass;
use crate::disk::records::Keyed;
use crate::disk::{DiskIndex, Mark, succeed};
use crate::ids::IdHasher;
use crate::index::{Entry, Index};

/// The Bloom filter's first capacity after a compaction rebuilt the index.
const BLOOM_CAPACITY: usize = 1 << 16;

/// The Bloom filter over the ids on disk, or the thread still reading them, or not yet begun.
enum StoredIds {
    /// Read after the writer's first commit, so it competes neither with the open nor with
    /// the first append for the disk.
    NotRead(Mark),
    Loading {
        receiver: Receiver<Option<BloomFilter>>,
        /// Hashes of the passes since the load began.
        since: Vec<u64>,
    },
    Ready(BloomFilter),
}

/// A pass running on its own thread.
struct InFlight {
    /// The tail entries its clone of the index held: those it moves to disk.
    moved: usize,
    /// The pass's outcome, with its connection back for the next one.
    done: Receiver<(Connection, Result<Mark, String>)>,
}

/// See the module documentation.
pub(crate) struct WriterDisk {
    /// Where the index lives.
    path: PathBuf,
    /// The new file a compaction's rebuild writes, until it is renamed to `path`.
    building: Option<PathBuf>,
    connection: Connection,
    pub(crate) index: Arc<DiskIndex>,
    ids: StoredIds,
    in_flight: Option<InFlight>,
    /// The connection passes beside the writer write through, between two of them: one kept
    /// open keeps its page cache of the tables a pass reads back (the `ids` rows it merges).
    pass_connection: Option<Connection>,
    /// A pass runs once this many events gather after the watermark.
    pub(crate) every: usize,
}

impl std::fmt::Debug for WriterDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterDisk")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl WriterDisk {
    /// The writer's side of `index`, which describes the log up to `mark`; starts reading its
    /// ids into the Bloom filter.
    pub(crate) fn start(
        path: &Path,
        connection: Connection,
        index: Arc<DiskIndex>,
        mark: Mark,
        every: usize,
    ) -> Self {
        let ids = if mark.position == 0 {
            StoredIds::Ready(BloomFilter::with_capacity(BLOOM_CAPACITY))
        } else {
            StoredIds::NotRead(mark)
        };
        Self {
            path: path.to_path_buf(),
            building: None,
            connection,
            index,
            ids,
            in_flight: None,
            pass_connection: None,
            every: every.max(1),
        }
    }

    /// Whether an id with this hash may be on disk (`true` until the filter is read).
    pub(crate) fn may_hold(&mut self, hash: u64) -> bool {
        self.poll_load();
        match &self.ids {
            StoredIds::Ready(bloom) => bloom.may_contain(hash),
            StoredIds::Loading { .. } | StoredIds::NotRead(_) => true,
        }
    }

    /// Starts reading the ids on disk into the filter, if that has not begun.
    pub(crate) fn read_ids(&mut self) {
        if let StoredIds::NotRead(mark) = self.ids {
            self.ids = load_ids(&self.index, mark);
        }
    }

    /// The entries on disk whose id has this hash, up to the watermark `through`.
    pub(crate) fn entries_with_hash(&self, hash: u64, through: u64) -> Result<Vec<Entry>, String> {
        lookup::ids(&self.connection, hash, through)
    }

    /// Writes the tail of `index` to disk and adds its ids to the filter; returns the new mark.
    pub(crate) fn pass(&mut self, index: &Index) -> Result<Mark, String> {
        let mark = write_pass(&self.connection, index)?;
        self.add_ids(index.hashes.iter().copied());
        Ok(mark)
    }

    /// Adds the id hashes a pass moved to disk to the filter. They reach it beside those the
    /// reading thread finds (an id read twice only sets its bits twice).
    pub(crate) fn add_ids(&mut self, hashes: impl Iterator<Item = u64>) {
        self.read_ids();
        match &mut self.ids {
            StoredIds::Ready(bloom) => hashes.for_each(|hash| bloom.insert(hash)),
            StoredIds::Loading { since, .. } => since.extend(hashes),
            StoredIds::NotRead(_) => {}
        }
    }

    /// Starts writing `clone`, a clone of the index, to disk on a thread of its own; returns
    /// `false` (and starts nothing) while a pass or a rebuild is under way or when no thread
    /// starts. [`Self::landed`] tells when it has ended.
    pub(crate) fn start_pass(&mut self, clone: Index) -> bool {
        if self.in_flight.is_some() || self.building.is_some() {
            return false;
        }
        let connection = match self.pass_connection.take() {
            Some(connection) => connection,
            None => match DiskIndex::open_existing(&self.path) {
                Ok(connection) => connection,
                Err(_) => return false,
            },
        };
        let moved = clone.entries.len();
        let (sender, done) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("annal-ndjson-pass".into())
            .spawn(move || {
                let passed = write_pass(&connection, &clone);
                let _ = sender.send((connection, passed));
            });
        if spawned.is_err() {
            return false;
        }
        self.in_flight = Some(InFlight { moved, done });
        true
    }

    /// Whether a pass runs on its own thread.
    pub(crate) fn passing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The pass running on its own thread, once it has ended (`wait`: once it ends): its mark
    /// and how many tail entries it moved, or why it failed. `None` while it runs, or when
    /// none does.
    pub(crate) fn landed(&mut self, wait: bool) -> Option<Result<(Mark, usize), String>> {
        let flight = self.in_flight.as_ref()?;
        let ended = if wait {
            flight.done.recv().map_err(|_| TryRecvError::Disconnected)
        } else {
            flight.done.try_recv()
        };
        let passed = match ended {
            Ok((connection, passed)) => {
                self.pass_connection = Some(connection);
                passed
            }
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err("the pass's thread ended unanswered".into()),
        };
        let moved = flight.moved;
        self.in_flight = None;
        Some(passed.map(|mark| (mark, moved)))
    }

    /// Starts the index of the log `log_inode` (a compaction's) over in `building`, a new file
    /// of the next generation, while readers keep the current one; [`Self::finish_rebuild`]
    /// renames it into place. Passes go to the new file from now on.
    pub(crate) fn rebuild_in(
        &mut self,
        building: &Path,
        generation: u64,
        hasher: IdHasher,
        log_inode: u64,
    ) -> Result<Mark, String> {
        let connection = DiskIndex::create(building).map_err(|e| e.to_string())?;
        let mark =
            succeed(&connection, generation, hasher.key(), log_inode).map_err(|e| e.to_string())?;
        self.connection = connection;
        // The kept pass connection writes the file this one replaces.
        self.pass_connection = None;
        self.index = Arc::new(DiskIndex::at(&self.path));
        self.ids = StoredIds::Ready(BloomFilter::with_capacity(BLOOM_CAPACITY));
        self.building = Some(building.to_path_buf());
        Ok(mark)
    }

    /// Renames the index [`Self::rebuild_in`] built over the current one. Readers whose disk
    /// lookups then meet the new generation start over with the index swapped in after it.
    pub(crate) fn finish_rebuild(&mut self) -> Result<(), String> {
        let Some(building) = self.building.take() else {
            return Ok(());
        };
        std::fs::rename(&building, &self.path).map_err(|e| {
            format!(
                "renaming {} to {}: {e}",
                building.display(),
                self.path.display()
            )
        })?;
        // SQLite refuses writes through a connection whose file was renamed since it opened.
        self.connection = DiskIndex::open_existing(&self.path).map_err(|e| e.to_string())?;
        self.pass_connection = None;
        Ok(())
    }

    fn poll_load(&mut self) {
        let StoredIds::Loading { receiver, since } = &mut self.ids else {
            return;
        };
        match receiver.try_recv() {
            Ok(Some(mut bloom)) => {
                since.iter().for_each(|hash| bloom.insert(*hash));
                self.ids = StoredIds::Ready(bloom);
            }
            Err(TryRecvError::Empty) => {}
            // The load failed or its thread is gone: checks keep reading the disk, which is
            // slower, never wrong.
            Ok(None) | Err(TryRecvError::Disconnected) => {}
        }
    }
}

/// Moves the tail of `index` to disk if it holds at least `at_least` events. A pass that fails
/// (a failing disk, say) leaves the derived index as it was, at its last mark, and drops the
/// writer's side of it: the index is derived, so the store goes on with its tail in memory,
/// and the next open rebuilds what is missing.
pub(crate) fn move_tail(disk: &mut Option<WriterDisk>, index: &mut Index, at_least: usize) {
    let Some(writer) = disk.as_mut() else {
        return;
    };
    if index.entries.len() < at_least {
        return;
    }
    match writer.pass(index) {
        Ok(mark) => index.moved_to_disk(Arc::clone(&writer.index), mark),
        Err(_) => *disk = None,
    }
}

/// Starts a thread that reads every id hash on disk up to `mark` into a Bloom filter.
fn load_ids(index: &Arc<DiskIndex>, mark: Mark) -> StoredIds {
    let (sender, receiver) = mpsc::channel();
    let index = Arc::clone(index);
    // A thread that cannot start drops the sender with its closure: the filter is then never
    // ready, and every check keeps reading the disk.
    let _ = std::thread::Builder::new()
        .name("annal-ndjson-ids".into())
        .spawn(move || {
            let bloom = index.read(mark.generation, |connection| read_ids(connection, mark));
            let _ = sender.send(bloom.ok().and_then(Result::ok));
        });
    StoredIds::Loading {
        receiver,
        since: Vec::new(),
    }
}

fn read_ids(connection: &Connection, mark: Mark) -> Result<BloomFilter, String> {
    let mut bloom = BloomFilter::with_capacity(usize::try_from(mark.position).unwrap_or(0));
    let mut statement = connection
        .prepare("SELECT entries FROM ids")
        .map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let records: Vec<Keyed> = blob(row, 0, "ids")?;
        records.iter().for_each(|record| bloom.insert(record.hash));
    }
    Ok(bloom)
}
