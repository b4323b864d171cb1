//! The writer thread: the only code that writes the store directory.
//!
//! It drains the queue of pending requests into a group (group commit): every append of the
//! group is decided in memory (expected version, idempotent retry), encoded into one buffer,
//! and the buffer is written with one `write` and made durable with one `fdatasync`. Only then
//! is the synced length published in `head.json` (for readers in other processes), the index
//! extended, the new head published on the watch channel, and every caller answered, so a caller that sees its append acknowledged finds it in every read and
//! subscription. Snapshots, projections and removals are barriers: the appends before them are
//! committed first, then they run alone.
//!
//! Invariant: a failed write or fsync poisons the writer. Every request of the group is
//! answered with the failure and every later one with [`StorageError::Poisoned`] until the
//! store is reopened: after a failed fsync we cannot know what the file holds, and retrying one
//! can report success for lost data. Reopening runs recovery, which cuts an unfinished tail.

mod append;
mod compact;
mod disk;
mod maintenance;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use annal_core::backend::{
    Append, Durability, Poison, Poisoned, Reply, Request, WriterInbox, WriterQueue, drain_group,
    publish_head,
};
use annal_core::{AppendError, AppendResult, Position, StorageError};
use tokio::sync::watch;

/// A request to the writer.
pub(crate) type Command = Request;

use crate::atomic::write_atomic;
use crate::head::{Head, HeadWriter};
use crate::ids::IdIndex;
use crate::index::Index;
use crate::layout::{INDEX_FILE, Layout};
use crate::scan::{LineInfo, Start};
use crate::sidecar::Summary;

pub(crate) use disk::{WriterDisk, move_tail};

/// Most events in one group: bounds one write's size and the latency of its callers.
const GROUP_EVENTS_MAX: usize = 20_000;

/// Most encoded bytes in one group before it is committed, so large events cannot make a group
/// (its buffer and its one write) grow without bound; a single larger append still commits
/// alone.
const GROUP_BYTES_MAX: usize = 16 * 1024 * 1024;

/// How often `index.json` is refreshed while appends go on; it is a cache of the log, so
/// refreshing it per append would only cost fsyncs.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(2);

/// The index readers use, shared with the writer (or follower) that extends it.
pub(crate) type SharedIndex = Arc<RwLock<Index>>;

/// What the writer decides with, beyond the shared index: counters that include the open
/// group, the ids of the open group (the shared index has every other readable id), and the
/// snapshot versions.
#[derive(Debug)]
pub(crate) struct WriterState {
    pub(crate) versions: HashMap<String, u64>,
    pub(crate) last_position: u64,
    pub(crate) group_ids: IdIndex,
    pub(crate) snapshots: BTreeMap<String, u64>,
}

impl WriterState {
    pub(crate) fn new(index: &Index, snapshots: BTreeMap<String, u64>) -> Self {
        Self {
            versions: index
                .streams
                .iter()
                .map(|(name, stream)| (name.clone(), stream.counter))
                .collect(),
            last_position: index.last_position,
            group_ids: IdIndex::default(),
            snapshots,
        }
    }
}

/// The running writer thread, owned by the store.
#[derive(Debug)]
pub(crate) struct WriterHandle {
    queue: WriterQueue<Command>,
    thread: JoinHandle<()>,
}

/// What the writer thread starts with.
pub(crate) struct WriterParts {
    pub(crate) layout: Layout,
    pub(crate) log: File,
    /// The log's inode, which `head.json` names.
    pub(crate) log_inode: u64,
    /// `head.json`, already describing the log as opened.
    pub(crate) head_file: HeadWriter,
    pub(crate) index: SharedIndex,
    pub(crate) state: WriterState,
    pub(crate) durability: Durability,
    pub(crate) head: watch::Sender<Position>,
    /// The derived index on disk (`None` if it could not be opened: the store then keeps its
    /// whole index in memory, as a read-only open of an unindexed store does).
    pub(crate) disk: Option<WriterDisk>,
}

impl WriterHandle {
    /// Starts the writer thread; `parts.log` is open for appending at the end of the last
    /// whole batch.
    pub(crate) fn start(parts: WriterParts) -> std::io::Result<Self> {
        let (queue, inbox) = WriterQueue::new(writer_gone);
        let next = read_index(&parts.index).map_or(Start::default(), |index| index.next);
        let writer = Writer {
            layout: parts.layout,
            log: parts.log,
            log_inode: parts.log_inode,
            head_file: parts.head_file,
            end: next.offset,
            lines: next.line,
            index: parts.index,
            state: parts.state,
            durability: parts.durability,
            head: parts.head,
            disk: parts.disk,
            poisoned: Poisoned::default(),
            group: Group::default(),
            summary_written: Instant::now(),
            summary_dirty: false,
        };
        let thread = std::thread::Builder::new()
            .name("annal-ndjson-writer".into())
            .spawn(move || writer.run(inbox))?;
        Ok(Self { queue, thread })
    }

    /// The queue into the writer.
    pub(crate) fn queue(&self) -> &WriterQueue<Command> {
        &self.queue
    }

    /// Stops the writer after it has answered everything queued and refreshed `index.json`.
    pub(crate) fn stop(self) {
        drop(self.queue);
        // A panicked writer answered nothing more; there is nothing left to stop.
        let _ = self.thread.join();
    }
}

/// Reads the shared index, or says why it cannot be read.
pub(crate) fn read_index(
    index: &SharedIndex,
) -> Result<std::sync::RwLockReadGuard<'_, Index>, StorageError> {
    index.read().map_err(|_| StorageError::Poisoned {
        reason: "a thread panicked while changing the index".into(),
    })
}

/// The appends of the open group.
#[derive(Default)]
struct Group {
    /// Their encoded lines.
    buf: Vec<u8>,
    /// What the index needs of each line, in order.
    lines: Vec<LineInfo>,
    /// Each committed batch's range in `lines`.
    batches: Vec<Range<usize>>,
    /// Every append of the group with its decided answer.
    answers: Vec<(
        Reply<AppendResult, AppendError>,
        Result<AppendResult, AppendError>,
    )>,
}

/// A group's buffer kept for the next group up to this capacity: small groups then grow no
/// buffer, and one large group does not hold its memory for good.
const GROUP_BUF_KEPT: usize = 4 << 20;

impl Group {
    /// The group with its appends gone and its buffers kept for the next one.
    fn emptied(mut self) -> Self {
        if self.buf.capacity() > GROUP_BUF_KEPT {
            return Self::default();
        }
        self.buf.clear();
        self.lines.clear();
        self.batches.clear();
        self.answers.clear();
        self
    }
}

struct Writer {
    layout: Layout,
    /// The log, open for appending.
    log: File,
    log_inode: u64,
    head_file: HeadWriter,
    /// The end of the durable, indexed log.
    end: u64,
    /// Lines before `end`.
    lines: u64,
    index: SharedIndex,
    state: WriterState,
    durability: Durability,
    head: watch::Sender<Position>,
    disk: Option<WriterDisk>,
    poisoned: Poisoned,
    group: Group,
    summary_written: Instant,
    summary_dirty: bool,
}

impl Writer {
    fn run(mut self, mut inbox: WriterInbox<Command>) {
        while let Some(first) = inbox.blocking_recv() {
            drain_group(&mut inbox, first, GROUP_EVENTS_MAX, |command| {
                self.handle(command);
                self.group.buf.len() < GROUP_BYTES_MAX
            });
            self.commit();
            if self.summary_dirty && self.summary_written.elapsed() >= SUMMARY_INTERVAL {
                self.refresh_summary();
            }
        }
        self.commit();
        // A clean close leaves nothing for the next open to scan.
        self.land_pass(true);
        self.pass(1);
        if self.summary_dirty {
            self.refresh_summary();
        } else {
            self.sync_head();
        }
    }

    fn handle(&mut self, command: Command) {
        if let Some(refusal) = self.poisoned.refusal() {
            command.fail(refusal);
            return;
        }
        match command {
            Command::Append(Append {
                stream,
                expected,
                batch,
                reply,
            }) => {
                let answer = self.decide_append(&stream, expected, batch);
                self.group.answers.push((reply, answer));
            }
            other => {
                self.commit();
                if let Some(refusal) = self.poisoned.refusal() {
                    other.fail(refusal);
                    return;
                }
                self.maintain(other);
            }
        }
    }

    /// Writes and fsyncs the open group, then extends the index, publishes the head and
    /// answers every append of the group.
    fn commit(&mut self) {
        let mut group = std::mem::take(&mut self.group);
        // Indexed by the shared index once the group is, and never stored if it fails.
        self.state.group_ids = IdIndex::default();
        if group.buf.is_empty() {
            group.answers.into_iter().for_each(|(reply, answer)| {
                drop(reply.send(answer));
            });
            return;
        }
        let written = self.log.write_all(&group.buf).and_then(|()| {
            match self.durability {
                Durability::Durable => {
                    self.log.sync_data()?;
                    // Readers in other processes may now index the group: it is durable.
                    let end = self.end + group.buf.len() as u64;
                    self.head_file.publish(self.head_at(end))
                }
                // Readers in other processes see the group at the next sync.
                Durability::Relaxed => Ok(()),
            }
        });
        let indexed = written
            .map_err(|error| format!("appending to {}: {error}", self.layout.events().display()))
            .and_then(|()| self.extend_index(&group));
        match indexed {
            Ok(()) => {
                publish_head(&self.head, Position(self.state.last_position));
                self.summary_dirty = true;
                for (reply, answer) in group.answers.drain(..) {
                    drop(reply.send(answer));
                }
                self.group = group.emptied();
                let every = self.disk.as_ref().map_or(usize::MAX, |disk| disk.every);
                self.land_pass(false);
                self.pass_beside(every);
                if let Some(disk) = self.disk.as_mut() {
                    disk.read_ids();
                }
            }
            Err(reason) => {
                // Best effort: cut what this group wrote, so a reader of this process never
                // meets it. Recovery at the next open cuts whatever remains of it.
                let _ = self.log.set_len(self.end);
                let failure = self.poison(reason);
                for (reply, _) in group.answers {
                    drop(reply.send(Err(failure.failure().into())));
                }
            }
        }
    }

    fn extend_index(&mut self, group: &Group) -> Result<(), String> {
        let mut index = self
            .index
            .write()
            .map_err(|_| "a thread panicked while changing the index".to_owned())?;
        for batch in &group.batches {
            // The writer decided these versions itself; a refusal here is a bug in annal.
            index.add_batch(&group.lines[batch.clone()])?;
        }
        self.end += group.buf.len() as u64;
        self.lines += group.lines.len() as u64;
        index.next = Start {
            offset: self.end,
            line: self.lines,
            last_position: self.state.last_position,
        };
        Ok(())
    }

    /// Moves the tail of the index to disk if it holds at least `at_least` events, after the
    /// log is synced, so the index never covers bytes a power loss could take back. The pass
    /// reads the tail under the read lock, so reads go on while it writes; only swapping the
    /// tail out takes the write lock. A failed pass drops the writer's side of the derived
    /// index, as [`move_tail`] does.
    fn pass(&mut self, at_least: usize) {
        let due = read_index(&self.index).is_ok_and(|index| index.entries.len() >= at_least);
        if !due || self.disk.is_none() || self.poisoned.is_poisoned() {
            return;
        }
        if self.durability == Durability::Relaxed {
            self.sync_head();
            if self.poisoned.is_poisoned() {
                return;
            }
        }
        let Some(disk) = self.disk.as_mut() else {
            return;
        };
        let passed = match read_index(&self.index) {
            Ok(index) => disk.pass(&index),
            Err(error) => Err(error.to_string()),
        };
        match (passed, self.index.write()) {
            (Ok(mark), Ok(mut index)) => index.moved_to_disk(Arc::clone(&disk.index), mark),
            _ => self.disk = None,
        }
    }

    /// Starts moving the tail of the index to disk on a thread of its own if it holds at
    /// least `at_least` events and no pass is running (`disk.rs`), after the log is synced as
    /// for [`Self::pass`]. The pass writes a clone of the index, so commits go on meanwhile.
    fn pass_beside(&mut self, at_least: usize) {
        let due = read_index(&self.index).is_ok_and(|index| index.entries.len() >= at_least);
        let idle = self.disk.as_ref().is_some_and(|disk| !disk.passing());
        if !due || !idle || self.poisoned.is_poisoned() {
            return;
        }
        if self.durability == Durability::Relaxed {
            self.sync_head();
            if self.poisoned.is_poisoned() {
                return;
            }
        }
        let clone = match read_index(&self.index) {
            Ok(index) => index.clone(),
            Err(_) => return,
        };
        let started = self
            .disk
            .as_mut()
            .is_some_and(|disk| disk.start_pass(clone));
        if !started {
            // No thread: the pass runs here instead.
            self.pass(at_least);
        }
    }

    /// Lands the pass running beside the writer once it has ended (`wait`: waits for it):
    /// the tail forgets what it moved and the Bloom filter gains its ids. A failed one drops
    /// the writer's side of the derived index, as [`Self::pass`] does.
    fn land_pass(&mut self, wait: bool) {
        let Some(disk) = self.disk.as_mut() else {
            return;
        };
        let Some(landed) = disk.landed(wait) else {
            return;
        };
        let forgotten = match (landed, self.index.write()) {
            (Ok((mark, moved)), Ok(mut index)) => {
                Some(index.moved_to_disk_through(Arc::clone(&disk.index), mark, moved))
            }
            _ => None,
        };
        match forgotten {
            Some(hashes) => disk.add_ids(hashes.into_iter()),
            None => self.disk = None,
        }
    }

    /// Refuses every later write; returns the failure to answer the failed requests with.
    fn poison(&mut self, reason: String) -> Poison {
        let context = format!(
            "writing to {} failed; the store is now poisoned",
            self.layout.dir().display()
        );
        self.poisoned.set(Poison::new(context, reason))
    }

    /// `head.json`'s record for the log synced up to `synced_bytes`.
    fn head_at(&self, synced_bytes: u64) -> Head {
        Head {
            log_inode: self.log_inode,
            synced_bytes,
            last_position: self.state.last_position,
        }
    }

    /// Makes everything committed durable and `head.json` say so, durably. In relaxed mode this
    /// is where the log is synced and readers in other processes catch up.
    fn sync_head(&mut self) {
        if self.poisoned.is_poisoned() {
            return;
        }
        if let Err(error) = self.sync_committed() {
            self.poison(format!("syncing {}: {error}", self.layout.dir().display()));
        }
    }

    /// Syncs the log (relaxed mode) and `head.json`, after publishing the synced length.
    fn sync_committed(&mut self) -> std::io::Result<()> {
        if self.durability == Durability::Relaxed {
            self.log.sync_data()?;
            let head = self.head_at(self.end);
            self.head_file.publish(head)?;
        }
        self.head_file.sync()
    }

    /// Rewrites `index.json` from the index, after syncing `head.json`. It is a cache, but a
    /// failed fsync here means the disk is failing, so it poisons the store like any other.
    fn refresh_summary(&mut self) {
        self.sync_head();
        let summary = match read_index(&self.index) {
            Ok(index) => Summary::of(&index),
            Err(_) => return,
        };
        self.summary_written = Instant::now();
        self.summary_dirty = false;
        let path = self.layout.file(INDEX_FILE);
        if let Err(error) = write_atomic(&path, &summary.to_json()) {
            self.poison(format!("writing {}: {error}", path.display()));
        }
    }
}

/// The answer to a write whose writer thread is gone (it panicked, or the store closed).
pub(crate) fn writer_gone() -> StorageError {
    StorageError::Poisoned {
        reason: "the writer thread stopped".into(),
    }
}
