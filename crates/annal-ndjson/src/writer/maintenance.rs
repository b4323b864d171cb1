//! The writer's other requests: snapshots, projections, truncation, deletion, store-wide
//! retention and flushes, each run alone after the appends before it committed.
//!
//! Invariants: a stream's version counter never goes down (removals rewrite the log, never the
//! counters); events newer than a stream's snapshot stay unless the caller forces their
//! removal; a snapshot or projection file is replaced atomically, so a crash leaves the old one
//! or the new one.

use annal_core::{
    CheckpointError, ExpectedVersion, RetentionError, RetentionPass, RetentionPolicy,
    RetentionReport, RetentionVerdict, Snapshot, SnapshotError, StorageError, StreamId, Version,
};

use super::compact::Verdict;
use super::{Command, Writer, read_index};
use crate::atomic::{remove_durably, sync_dir, write_atomic};
use crate::layout::{PROJECTIONS_DIR, SNAPSHOTS_DIR};
use crate::sidecar::ProjectionFile;

impl Writer {
    /// Runs one request that is not an append and answers it.
    pub(super) fn maintain(&mut self, command: Command) {
        // A caller that stopped waiting (its future was dropped) needs no answer.
        match command {
            Command::SaveSnapshot { snapshot, reply } => {
                drop(reply.send(self.save_snapshot(snapshot)));
            }
            Command::SaveProjection { name, saved, reply } => {
                let file = ProjectionFile {
                    name: name.as_str().to_owned(),
                    checkpoint: saved.checkpoint,
                    state: saved.state,
                };
                let result = serde_json::to_vec(&file)
                    .map_err(CheckpointError::State)
                    .and_then(|bytes| {
                        let path = self.layout.projection(name.as_str());
                        Ok(self.write_sidecar(PROJECTIONS_DIR, &path, &bytes)?)
                    });
                drop(reply.send(result));
            }
            Command::Truncate {
                stream,
                before,
                force,
                reply,
            } => drop(reply.send(self.truncate_before(&stream, before, force))),
            Command::Delete {
                stream,
                expected,
                reply,
            } => drop(reply.send(self.delete_stream(&stream, expected))),
            Command::Retain { policy, reply } => drop(reply.send(self.retain(policy))),
            Command::Flush { reply } => {
                let synced = self.log.sync_data().map_err(|error| {
                    self.poison(format!(
                        "syncing {}: {error}",
                        self.layout.events().display()
                    ))
                    .error()
                });
                drop(reply.send(synced));
            }
            Command::Append { reply, .. } => {
                drop(
                    reply.send(Err(StorageError::Poisoned {
                        reason: "an append reached the maintenance path".into(),
                    }
                    .into())),
                );
            }
        }
    }

    /// Writes a snapshot or projection file atomically, creating its directory if needed.
    fn write_sidecar(
        &mut self,
        dir_name: &str,
        path: &std::path::Path,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        let dir = self.layout.file(dir_name);
        let written = if dir.is_dir() {
            Ok(())
        } else {
            std::fs::create_dir_all(&dir).and_then(|()| sync_dir(self.layout.dir()))
        }
        .and_then(|()| write_atomic(path, bytes));
        written.map_err(|error| {
            self.poison(format!("writing {}: {error}", path.display()))
                .error()
        })
    }

    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<(), SnapshotError> {
        let stream = snapshot.aggregate_id.clone();
        let actual = self.version(&stream);
        if snapshot.version.0 > actual {
            return Err(SnapshotError::AheadOfStream {
                stream,
                offered: snapshot.version,
                actual: Version(actual),
            });
        }
        if let Some(stored) = self.state.snapshots.get(stream.as_str())
            && *stored > snapshot.version.0
        {
            return Err(SnapshotError::Stale {
                stream,
                stored: Version(*stored),
                offered: snapshot.version,
            });
        }
        let bytes = serde_json::to_vec(&snapshot)
            .map_err(|error| StorageError::backend("serializing a snapshot", error))?;
        let path = self.layout.snapshot(stream.as_str());
        self.write_sidecar(SNAPSHOTS_DIR, &path, &bytes)?;
        self.state
            .snapshots
            .insert(stream.as_str().to_owned(), snapshot.version.0);
        Ok(())
    }

    fn version(&self, stream: &StreamId) -> u64 {
        self.state
            .versions
            .get(stream.as_str())
            .copied()
            .unwrap_or(0)
    }

    /// Readable events of `stream` with versions before `before`.
    fn count_before(&self, stream: &StreamId, before: u64) -> Result<u64, StorageError> {
        let index = read_index(&self.index)?;
        Ok(index.streams.get(stream.as_str()).map_or(0, |s| {
            s.entries.partition_point(|e| e.version < before) as u64
        }))
    }

    fn truncate_before(
        &mut self,
        stream: &StreamId,
        before: Version,
        force: bool,
    ) -> Result<RetentionReport, RetentionError> {
        if let Some(snapshot) = self.state.snapshots.get(stream.as_str())
            && !force
            && before.0 > snapshot.saturating_add(1)
        {
            return Err(RetentionError::ProtectedBySnapshot {
                stream: stream.clone(),
                snapshot: Version(*snapshot),
                before,
            });
        }
        if self.count_before(stream, before.0)? == 0 {
            return Ok(RetentionReport::default());
        }
        let compacted = self
            .compact(|_, line| {
                if line.stream == stream.as_str() && line.version < before.0 {
                    Verdict::Remove
                } else {
                    Verdict::Keep
                }
            })
            .map_err(|reason| self.poison(reason).error())?;
        Ok(RetentionReport {
            removed: compacted.removed,
            protected: 0,
        })
    }

    fn delete_stream(
        &mut self,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> Result<RetentionReport, RetentionError> {
        let actual = Version(self.version(stream));
        if !expected.accepts(actual) {
            return Err(RetentionError::WrongExpectedVersion {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
        if self.state.snapshots.remove(stream.as_str()).is_some() {
            let path = self.layout.snapshot(stream.as_str());
            remove_durably(&path).map_err(|error| {
                self.poison(format!("removing {}: {error}", path.display()))
                    .error()
            })?;
        }
        if self.count_before(stream, u64::MAX)? == 0 {
            return Ok(RetentionReport::default());
        }
        let compacted = self
            .compact(|_, line| {
                if line.stream == stream.as_str() {
                    Verdict::Remove
                } else {
                    Verdict::Keep
                }
            })
            .map_err(|reason| self.poison(reason).error())?;
        Ok(RetentionReport {
            removed: compacted.removed,
            protected: 0,
        })
    }

    /// Removes what `policy` selects, decided line by line in log order by
    /// `annal_core::RetentionPass`, so every stream keeps a contiguous suffix of its versions.
    fn retain(&mut self, policy: RetentionPolicy) -> Result<RetentionReport, RetentionError> {
        let total = read_index(&self.index)?.entries.len() as u64;
        let mut pass = RetentionPass::new(policy, total);
        if !pass.selects_any() {
            return Ok(RetentionReport::default());
        }
        let snapshots = self.state.snapshots.clone();
        let compacted = self
            .compact(|_, line| {
                let snapshot = snapshots.get(&line.stream).copied().map(Version);
                let version = Version(line.version);
                match pass.decide(&line.stream, version, line.timestamp, snapshot) {
                    RetentionVerdict::Keep => Verdict::Keep,
                    RetentionVerdict::Remove => Verdict::Remove,
                    RetentionVerdict::Protected => Verdict::Protected,
                }
            })
            .map_err(|reason| self.poison(reason).error())?;
        Ok(RetentionReport {
            removed: compacted.removed,
            protected: compacted.protected,
        })
    }
}
