//! The follower of a read-only store: a background thread that notices appends made by the
//! writer (in another process or this one) and publishes the new head, so subscriptions on a
//! read-only store follow live.
//!
//! Every poll interval it looks at the log's metadata. If the log grew, it scans the new whole
//! batches into the index (a batch still being written is left for the next poll); if the log
//! was replaced (a compaction renamed a new file over it) or shrank, it rebuilds the index from
//! the new file. A head is published only after the events up to it are in the index, which is
//! what [`annal_core::follow`] requires.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use annal_core::Position;
use tokio::sync::watch;

use crate::build::{build, extend};
use crate::layout::{Layout, STREAMS_FILE};
use crate::scan::Problem;
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
            seen: Seen::of(&layout),
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

/// What the follower last saw of the files it watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    log: Option<(u64, u64, Option<SystemTime>)>,
    counters: Option<SystemTime>,
}

impl Seen {
    fn of(layout: &Layout) -> Self {
        let log = std::fs::metadata(layout.events())
            .ok()
            .map(|m| (m.ino(), m.len(), m.modified().ok()));
        let counters = std::fs::metadata(layout.file(STREAMS_FILE))
            .ok()
            .and_then(|m| m.modified().ok());
        Self { log, counters }
    }
}

struct Follower {
    layout: Layout,
    index: SharedIndex,
    head: watch::Sender<Position>,
    seen: Seen,
    /// The log holds damage the follower cannot read past; it waits for the log to be replaced.
    stalled: bool,
}

impl Follower {
    fn poll(&mut self) {
        let now = Seen::of(&self.layout);
        if now == self.seen {
            return;
        }
        let replaced = match (now.log, self.seen.log) {
            (Some((ino, len, _)), Some((old_ino, _, _))) => {
                ino != old_ino || len < self.indexed_end()
            }
            _ => true,
        };
        // A failed step leaves `seen` unchanged, so the next poll tries again.
        let done = if replaced {
            self.rebuild()
        } else {
            self.catch_up(now.counters != self.seen.counters)
        };
        if done {
            self.seen = now;
        }
    }

    fn indexed_end(&self) -> u64 {
        self.index.read().map_or(0, |index| index.next.offset)
    }

    fn catch_up(&mut self, counters_changed: bool) -> bool {
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
        match extend(&mut index) {
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

    fn rebuild(&mut self) -> bool {
        let Ok(counters) = read_counters(&self.layout.file(STREAMS_FILE)) else {
            return false;
        };
        let Ok(file) = File::open(self.layout.events()) else {
            return false;
        };
        let Ok(built) = build(Arc::new(file), &counters, false) else {
            return false;
        };
        self.stalled = matches!(built.end.problem, Some(Problem::Corrupt { .. }));
        let head = Position(built.index.last_position);
        let Ok(mut index) = self.index.write() else {
            return false;
        };
        *index = built.index;
        drop(index);
        self.publish(head);
        true
    }

    fn publish(&self, head: Position) {
        self.head.send_if_modified(|current| {
            let moved = head > *current;
            if moved {
                *current = head;
            }
            moved
        });
    }
}
