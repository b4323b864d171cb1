//! The follower of a read-only store: a background thread that notices appends made by the
//! writer (in another process or this one) and publishes the new head, so subscriptions on a
//! read-only store follow live.
//!
//! Every poll interval it looks at the log's metadata and at `head.json`. It reads the log only
//! up to the synced length the writer published there after its fsync, so it never indexes an
//! append that a failed fsync or a power loss could take back and a later append reuse the
//! position of (without a `head.json` for this log file, no writer of this format is appending,
//! and it reads every whole batch). If the synced length grew, it scans the new whole batches
//! into the index; if the log path names another file than the one the index reads (a
//! compaction renamed a new file over it, even before this follower started) or the file
//! shrank, it rebuilds the index from the new file. A head is published only after the events
//! up to it are in the index, which is what [`annal_core::follow`] requires.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use annal_core::Position;
use annal_core::backend::advance_head;
use tokio::sync::watch;

use crate::build::extend;
use crate::head::{self, HeadFile};
use crate::layout::{HEAD_FILE, Layout, STREAMS_FILE};
use crate::open::reader_index;
use crate::scan::{Problem, Rules};
use crate::sidecar::read_counters;
use crate::writer::SharedIndex;

/// The running follower thread; dropping the store stops it.
#[derive(Debug)]
pub(crate) struct Poller {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Poller {
    /// Starts following the log of `layout` every `interval`, publishing heads on `head`.
    pub(crate) fn start(
        layout: Layout,
        index: SharedIndex,
        head: watch::Sender<Position>,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel();
        let mut follower = Follower {
            seen: None,
            indexed: indexed_identity(&index),
            layout,
            index,
            head,
            stalled: false,
        };
        let thread = std::thread::Builder::new()
            .name("annal-ndjson-follower".into())
            .spawn(move || {
                loop {
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => follower.poll(),
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Self { stop, thread })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        drop(self.stop);
        // A panicked follower has nothing left to clean up.
        let _ = self.thread.join();
    }
}

/// Which file a handle or path is: a compaction renames a new log over the old one.
type Identity = (u64, u64);

fn identity(metadata: &std::fs::Metadata) -> Identity {
    (metadata.dev(), metadata.ino())
}

/// The identity of the log file the index reads (the handle it was built from, never the path,
/// which may already name a newer log).
fn indexed_identity(index: &SharedIndex) -> Option<Identity> {
    let index = index.read().ok()?;
    index.file.metadata().ok().map(|m| identity(&m))
}

/// What the follower last saw of the files it watches.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    log: Option<(Identity, u64, Option<SystemTime>)>,
    counters: Option<SystemTime>,
    /// What `head.json` says: the writer publishes it after each fsync, after the log grew.
    head: HeadFile,
}

impl Seen {
    fn of(layout: &Layout) -> Self {
        let log = std::fs::metadata(layout.events())
            .ok()
            .map(|m| (identity(&m), m.len(), m.modified().ok()));
        let counters = std::fs::metadata(layout.file(STREAMS_FILE))
            .ok()
            .and_then(|m| m.modified().ok());
        let head = head::read(&layout.file(HEAD_FILE))
            .unwrap_or_else(|error| HeadFile::Damaged(error.to_string()));
        Self {
            log,
            counters,
            head,
        }
    }

    /// What a scan of the log file `log` may read: up to the synced length `head.json` gives
    /// it, or, if it names another file (or none: no writer of this format is appending), all
    /// whole batches. `None` while `head.json` does not decode: this read may have met the
    /// writer's overwrite half done, and the next poll reads it again.
    fn rules(&self, log: Option<Identity>, unchecked_through: u64) -> Option<Rules> {
        if matches!(self.head, HeadFile::Damaged(_)) {
            return None;
        }
        let synced = log.and_then(|(_, inode)| self.head.synced_in(inode));
        let synced = synced.map(|head| head.synced_bytes);
        Some(Rules {
            unchecked_through,
            // No head for this log: no byte of it is known to be synced.
            synced: synced.unwrap_or(0),
            limit: synced,
        })
    }
}

struct Follower {
    layout: Layout,
    index: SharedIndex,
    head: watch::Sender<Position>,
    /// What the last successful poll saw; `None` before the first poll, which always looks.
    seen: Option<Seen>,
    /// The log file the index was built from.
    indexed: Option<Identity>,
    /// The log holds damage the follower cannot read past; it waits for the log to be replaced.
    stalled: bool,
}

impl Follower {
    fn poll(&mut self) {
        let now = Seen::of(&self.layout);
        if Some(&now) == self.seen.as_ref() {
            return;
        }
        let replaced = match now.log {
            Some((path_identity, len, _)) => {
                Some(path_identity) != self.indexed || len < self.indexed_end()
            }
            None => true,
        };
        let counters_changed = self
            .seen
            .as_ref()
            .is_none_or(|seen| seen.counters != now.counters);
        // A failed step leaves `seen` unchanged, so the next poll tries again.
        let done = if replaced {
            self.rebuild(&now)
        } else {
            self.catch_up(&now, counters_changed)
        };
        if done {
            self.seen = Some(now);
        }
    }

    fn indexed_end(&self) -> u64 {
        self.index.read().map_or(0, |index| index.next.offset)
    }

    fn catch_up(&mut self, now: &Seen, counters_changed: bool) -> bool {
        if self.stalled && !counters_changed {
            return true;
        }
        let Ok(mut index) = self.index.write() else {
            return false;
        };
        if counters_changed {
            let Ok(counters) = read_counters(&self.layout.file(STREAMS_FILE)) else {
                return false;
            };
            if index.merge_counters(&counters).is_err() {
                return false;
            }
        }
        let Some(rules) = now.rules(self.indexed, index.unchecked_through) else {
            return false;
        };
        match extend(&mut index, rules) {
            Ok(end) => {
                self.stalled = matches!(end.problem, Some(Problem::Corrupt { .. }));
            }
            Err(_) => return false,
        }
        let head = Position(index.last_position);
        drop(index);
        self.publish(head);
        true
    }

    fn rebuild(&mut self, now: &Seen) -> bool {
        let Ok(counters) = read_counters(&self.layout.file(STREAMS_FILE)) else {
            return false;
        };
        let Ok(file) = File::open(self.layout.events()) else {
            return false;
        };
        let Ok(metadata) = file.metadata() else {
            return false;
        };
        let Some(rules) = now.rules(Some(identity(&metadata)), counters.unchecked_through()) else {
            return false;
        };
        let Ok(built) = reader_index(&self.layout, file, metadata.ino(), &counters, rules) else {
            return false;
        };
        self.stalled = matches!(built.end.problem, Some(Problem::Corrupt { .. }));
        let head = Position(built.index.last_position);
        let Ok(mut index) = self.index.write() else {
            return false;
        };
        *index = built.index;
        drop(index);
        self.indexed = Some(identity(&metadata));
        self.publish(head);
        true
    }

    fn publish(&self, head: Position) {
        advance_head(&self.head, head);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::RwLock;

    use annal_core::{EventType, ExpectedVersion, NewEvent, Store, StreamId};

    use super::*;
    use crate::NdjsonStore;
    use crate::scan::Rules;
    use crate::sidecar::Counters;

    async fn append(store: &NdjsonStore, stream: &str) {
        let event = NewEvent::new(EventType::new("t:x").unwrap(), serde_json::json!({}));
        let stream = StreamId::new(stream).unwrap();
        store
            .append(&stream, ExpectedVersion::Any, vec![event])
            .await
            .unwrap();
    }

    /// A read-only open scans the log through one handle, then starts following. A compaction
    /// that renames a new log into place between the two must be noticed: the follower compares
    /// the path with the handle the index reads, not with what the path named when it started.
    #[tokio::test]
    async fn a_compaction_between_scan_and_follow_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(&dir.path().join("store"));
        let writer = NdjsonStore::open(layout.dir()).unwrap();
        append(&writer, "gone").await;
        append(&writer, "kept").await;
        // The reader's scan, on the log as it was.
        let file = File::open(layout.events()).unwrap();
        let hasher = crate::ids::IdHasher::random();
        use std::sync::Arc;
        let built = crate::build::build(
            Arc::new(file),
            &Counters::default(),
            Rules::default(),
            hasher,
        )
        .unwrap();
        assert_eq!(built.index.entries.len(), 2);
        // The compaction and a new append, before the follower starts.
        writer
            .delete_stream(&StreamId::new("gone").unwrap(), ExpectedVersion::Any)
            .await
            .unwrap();
        append(&writer, "kept").await;
        let index = Arc::new(RwLock::new(built.index));
        let (sender, mut head) = watch::channel(Position(2));
        let poller =
            Poller::start(layout, Arc::clone(&index), sender, Duration::from_millis(2)).unwrap();
        let reached = tokio::time::timeout(
            Duration::from_secs(5),
            head.wait_for(|position| position.0 >= 3),
        )
        .await;
        poller.stop();
        assert!(reached.is_ok(), "the follower never saw the new log");
        let positions: Vec<u64> = index
            .read()
            .unwrap()
            .entries
            .iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(
            positions,
            [2, 3],
            "the removed event is gone, the new one is there"
        );
    }
}
