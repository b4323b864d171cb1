//! Compaction: removing events by rewriting the log without them, atomically.
//!
//! Every removal (truncation, deletion, store-wide retention) goes through [`Writer::compact`]:
//!
//! 1. `streams.json` is replaced with every counter as it stands, so the removed events' versions
//!    and positions are remembered before the events go (counters never go down);
//! 2. the kept lines are copied, in order, to `events.ndjson.compact`; a batch that loses some of
//!    its events has its remaining lines' `batchSize` rewritten, so framing stays exact;
//! 3. the copy is fsynced, renamed over `events.ndjson`, and the directory fsynced;
//! 4. the index is rebuilt from the new log and swapped in, and `head.json` is rewritten and
//!    fsynced to name the new file, all of it synced; readers holding the old file keep reading
//!    the old inode until their next page.
//!
//! A crash before step 3's rename leaves the old log (the removal was never acknowledged) and a
//! stale `.compact` file, which the next writer open deletes; after it, the new log.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::{Writer, move_tail, read_index};
use crate::atomic::{sync_dir, write_atomic};
use crate::build::{BuildError, build_from};
use crate::head::inode_of;
use crate::index::Index;
use crate::layout::{COMPACT_FILE, DISK_INDEX_BUILDING, STREAMS_FILE};
use crate::line::reframe;
use crate::scan::{LineInfo, Rules, Start, scan};
use crate::sidecar::counters_json;

/// What a compaction does with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Keep,
    Remove,
    /// Selected for removal, but kept because its stream's snapshot does not cover it.
    Protected,
}

/// Events removed and protected by one compaction.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Compacted {
    pub(super) removed: u64,
    pub(super) protected: u64,
}

impl Writer {
    /// Rewrites the log without the events `decide` removes; `decide` sees each event with its
    /// index in position order.
    pub(super) fn compact(
        &mut self,
        mut decide: impl FnMut(u64, &LineInfo) -> Verdict,
    ) -> Result<Compacted, String> {
        let (old_file, counters) = {
            let index = read_index(&self.index).map_err(|e| e.to_string())?;
            (Arc::clone(&index.file), index.counters())
        };
        let streams_path = self.layout.file(STREAMS_FILE);
        write_atomic(&streams_path, &counters_json(&counters))
            .map_err(|e| format!("writing {}: {e}", streams_path.display()))?;
        let temp_path = self.layout.file(COMPACT_FILE);
        let temp = File::create(&temp_path)
            .map_err(|e| format!("creating {}: {e}", temp_path.display()))?;
        let mut out = BufWriter::with_capacity(1024 * 1024, temp);
        let mut compacted = Compacted::default();
        let mut event_idx = 0u64;
        let mut io_failure: Option<std::io::Error> = None;
        let rules = Rules {
            unchecked_through: counters.unchecked_through(),
            ..Rules::default()
        };
        let end = scan(&old_file, Start::default(), rules, |batch| {
            let verdicts: Vec<Verdict> = batch
                .iter()
                .map(|line| {
                    let verdict = decide(event_idx, line);
                    event_idx += 1;
                    verdict
                })
                .collect();
            let kept = verdicts.iter().filter(|v| **v != Verdict::Remove).count() as u64;
            compacted.removed += batch.len() as u64 - kept;
            compacted.protected += verdicts
                .iter()
                .filter(|v| **v == Verdict::Protected)
                .count() as u64;
            if kept == 0 {
                return Ok(());
            }
            let copied = copy_batch(&old_file, batch, &verdicts, kept, &mut out);
            copied.map_err(|error| {
                let reason = error.to_string();
                io_failure = Some(error);
                reason
            })
        })
        .map_err(|e| format!("reading the log to compact it: {e}"))?;
        if let Some(error) = io_failure {
            return Err(format!("writing {}: {error}", temp_path.display()));
        }
        if let Some(problem) = end.problem {
            return Err(format!("the log changed under the writer: {problem:?}"));
        }
        if compacted.removed == 0 {
            drop(out);
            std::fs::remove_file(&temp_path)
                .map_err(|e| format!("removing {}: {e}", temp_path.display()))?;
            return Ok(compacted);
        }
        let temp = out
            .into_inner()
            .map_err(|e| format!("writing {}: {}", temp_path.display(), e.error()))?;
        temp.sync_all()
            .map_err(|e| format!("syncing {}: {e}", temp_path.display()))?;
        drop(temp);
        let events_path = self.layout.events();
        std::fs::rename(&temp_path, &events_path)
            .map_err(|e| format!("renaming {}: {e}", temp_path.display()))?;
        sync_dir(self.layout.dir()).map_err(|e| format!("syncing the directory: {e}"))?;
        self.reload(&counters)?;
        Ok(compacted)
    }

    /// Rebuilds the index from the new log and swaps it in, with a fresh append handle.
    fn reload(&mut self, counters: &crate::sidecar::Counters) -> Result<(), String> {
        let events_path = self.layout.events();
        let read = File::open(&events_path)
            .map_err(|e| format!("opening {}: {e}", events_path.display()))?;
        let log_inode =
            inode_of(&read).map_err(|e| format!("reading {}: {e}", events_path.display()))?;
        let rules = Rules {
            unchecked_through: counters.unchecked_through(),
            ..Rules::default()
        };
        let built = self.rebuild_index(read, log_inode, counters, rules)?;
        if let Some(problem) = built.end.problem {
            return Err(format!("the compacted log does not scan: {problem:?}"));
        }
        self.log = File::options()
            .append(true)
            .open(&events_path)
            .map_err(|e| format!("opening {}: {e}", events_path.display()))?;
        self.end = built.index.next.offset;
        self.lines = built.index.next.line;
        // The new log was synced before its rename: publish all of it, durably, before any
        // append lands in it.
        self.log_inode = log_inode;
        let head = self.head_at(self.end);
        self.head_file
            .publish(head)
            .and_then(|()| self.head_file.sync())
            .map_err(|e| format!("writing head.json: {e}"))?;
        let mut index = self
            .index
            .write()
            .map_err(|_| "a thread panicked while changing the index".to_owned())?;
        // Renamed while readers are held off: none reads the new file with the old index. A
        // failure poisons the writer (the caller's rule for a failed compaction); the old index
        // still reads the old log correctly until the store is reopened.
        if let Some(disk) = self.disk.as_mut() {
            disk.finish_rebuild()?;
        }
        *index = built.index;
        drop(index);
        self.summary_dirty = true;
        self.refresh_summary();
        Ok(())
    }
}

impl Writer {
    /// The index of the new log `read`: the derived index emptied in a new generation (reads
    /// that began before start over) and rebuilt by a scan, moving the tail to disk as it grows.
    fn rebuild_index(
        &mut self,
        read: File,
        log_inode: u64,
        counters: &crate::sidecar::Counters,
        rules: Rules,
    ) -> Result<crate::build::Built, String> {
        let hasher = read_index(&self.index).map_err(|e| e.to_string())?.hasher;
        let index = Index::new(Arc::new(read), counters, hasher)?;
        let reason = |error| match error {
            BuildError::Counters(reason) => reason,
            BuildError::Io(error) => error.to_string(),
        };
        let mut index = index;
        let generation = read_index(&self.index)
            .map_err(|e| e.to_string())?
            .disk
            .as_ref()
            .map_or(0, |d| d.mark.generation);
        let building = self.layout.file(DISK_INDEX_BUILDING);
        let started = self
            .disk
            .as_mut()
            .map(|disk| disk.rebuild_in(&building, generation, hasher, log_inode));
        match (started, &self.disk) {
            (Some(Ok(mark)), Some(disk)) => index.moved_to_disk(Arc::clone(&disk.index), mark),
            // Not started: the current index holds the old log's events, and the next open
            // finds it names another log file and rebuilds it.
            _ => self.disk = None,
        }
        let every = self.disk.as_ref().map_or(usize::MAX, |disk| disk.every);
        let disk = &mut self.disk;
        build_from(index, rules, |index| {
            move_tail(disk, index, every);
        })
        .map_err(reason)
    }
}

/// Copies the kept lines of `batch` to `out`, reframed if the batch lost events.
fn copy_batch(
    file: &File,
    batch: &[LineInfo],
    verdicts: &[Verdict],
    kept: u64,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return Ok(());
    };
    let start = first.offset;
    let mut bytes = vec![0; (last.offset + u64::from(last.len) + 1 - start) as usize];
    file.read_exact_at(&mut bytes, start)?;
    for (line, verdict) in batch.iter().zip(verdicts) {
        if *verdict == Verdict::Remove {
            continue;
        }
        let from = (line.offset - start) as usize;
        let text = &bytes[from..from + line.len as usize];
        if kept == batch.len() as u64 {
            out.write_all(text)?;
            out.write_all(b"\n")?;
        } else {
            let reframed = reframe(text, kept).ok_or_else(|| {
                std::io::Error::other(format!("line at byte {} has no batchSize", line.offset))
            })?;
            out.write_all(&reframed)?;
        }
    }
    Ok(())
}
