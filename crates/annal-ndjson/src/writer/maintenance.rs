//! The writer's other requests: snapshots, projections, truncation, deletion, store-wide
//! retention and flushes, each run alone after the appends before it committed.
//!
//! Invariants: a stream's version counter never goes down (removals rewrite the log, never the
//! counters); events newer than a stream's snapshot stay unless the caller forces their
//! removal; a snapshot or projection file is replaced atomically, so a crash leaves the old one
//! or the new one.

use annal_core::decide::{self, RetentionPass, RetentionVerdict};
use annal_core::{
    CheckpointError, ExpectedVersion, RetentionError, RetentionPolicy, RetentionReport, Snapshot,
    SnapshotError, StorageError, StreamId, Version,
};

use super::compact::Verdict;
use annal_core::backend::AppendRequest;

use super::{Command, Writer, read_index};
use crate::atomic::{remove_durably, sync_dir, write_atomic};
use crate::layout::{PROJECTIONS_DIR, SNAPSHOTS_DIR};
use crate::sidecar::{ProjectionFile, SidecarKind, decode_head};

/// The owner named by the file at `path`, if there is one.
/// Only a hashed name (`~…`) can be shared; an escaped one belongs to one owner only.
fn holder_of(path: &std::path::Path, kind: SidecarKind) -> Result<Option<String>, StorageError> {
    let hashed = path
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with('~'));
    if !hashed {
        return Ok(None);
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StorageError::backend(
                format!("reading {}", path.display()),
                error,
            ));
        }
    };
    let (owner, _) = decode_head(&bytes, kind).map_err(|reason| StorageError::Corrupted {
        location: path.display().to_string(),
        reason,
    })?;
    Ok(Some(owner))
}

impl Writer {
    /// Runs one request that is not an append and answers it.
    pub(super) fn maintain(&mut self, command: Command) {
        // Removals and compaction change the tail a running pass is moving: it lands first.
        self.land_pass(true);
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
                        let kind = SidecarKind::Projection;
                        Ok(self.write_sidecar(kind, name.as_str(), &path, &bytes)?)
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
                let synced = self.sync_committed().map_err(|error| {
                    self.poison(format!("syncing {}: {error}", self.layout.dir().display()))
                        .failure()
                });
                drop(reply.send(synced));
            }
            Command::Append(append) => append.fail(StorageError::Poisoned {
                reason: "an append reached the maintenance path".into(),
            }),
        }
    }

    /// Writes `owner`'s snapshot or projection file atomically, creating its directory if
    /// needed. A hashed file name that another owner's file already holds is refused: the hash
    /// is not collision-resistant, and overwriting would lose that owner's file.
    fn write_sidecar(
        &mut self,
        kind: SidecarKind,
        owner: &str,
        path: &std::path::Path,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        if let Some(holder) = holder_of(path, kind)?
            && holder != owner
        {
            return Err(StorageError::Corrupted {
                location: path.display().to_string(),
                reason: format!("the file name of {owner} is taken by the file of {holder}"),
            });
        }
        let dir_name = match kind {
            SidecarKind::Snapshot => SNAPSHOTS_DIR,
            SidecarKind::Projection => PROJECTIONS_DIR,
        };
        let dir = self.layout.file(dir_name);
        let written = if dir.is_dir() {
            Ok(())
        } else {
            std::fs::create_dir_all(&dir).and_then(|()| sync_dir(self.layout.dir()))
        }
        .and_then(|()| write_atomic(path, bytes));
        written.map_err(|error| {
            self.poison(format!("writing {}: {error}", path.display()))
                .failure()
        })
    }

    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<(), SnapshotError> {
        let stream = snapshot.aggregate_id.clone();
        let actual = Version(self.stream_version(&stream));
        let stored = self
            .state
            .snapshots
            .get(stream.as_str())
            .copied()
            .map(Version);
        decide::save_snapshot(&stream, snapshot.version, actual, stored)?;
        let bytes = serde_json::to_vec(&snapshot)
            .map_err(|error| StorageError::backend("serializing a snapshot", error))?;
        let path = self.layout.snapshot(stream.as_str());
        self.write_sidecar(SidecarKind::Snapshot, stream.as_str(), &path, &bytes)?;
        self.state
            .snapshots
            .insert(stream.as_str().to_owned(), snapshot.version.0);
        Ok(())
    }

    /// Readable events of `stream` with versions before `before`.
    fn count_before(&self, stream: &StreamId, before: u64) -> Result<u64, StorageError> {
        let index = read_index(&self.index)?;
        // A stream's readable versions are one contiguous run ending at its last.
        Ok(index.streams.get(stream.as_str()).map_or(0, |s| {
            let first = (s.last_version + 1).saturating_sub(s.events);
            before.saturating_sub(first).min(s.events)
        }))
    }

    fn truncate_before(
        &mut self,
        stream: &StreamId,
        before: Version,
        force: bool,
    ) -> Result<RetentionReport, RetentionError> {
        let snapshot = self
            .state
            .snapshots
            .get(stream.as_str())
            .copied()
            .map(Version);
        decide::truncate_before(stream, before, force, snapshot)?;
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
            .map_err(|reason| self.poison(reason).failure())?;
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
        decide::delete_stream(stream, expected, Version(self.stream_version(stream)))?;
        // The events go first: a crash between the two steps leaves a snapshot without
        // events (harmless), never events without the snapshot that protects them.
        let mut report = RetentionReport::default();
        if self.count_before(stream, u64::MAX)? > 0 {
            let compacted = self
                .compact(|_, line| {
                    if line.stream == stream.as_str() {
                        Verdict::Remove
                    } else {
                        Verdict::Keep
                    }
                })
                .map_err(|reason| self.poison(reason).failure())?;
            report.removed = compacted.removed;
        }
        if self.state.snapshots.remove(stream.as_str()).is_some() {
            let path = self.layout.snapshot(stream.as_str());
            remove_durably(&path).map_err(|error| {
                self.poison(format!("removing {}: {error}", path.display()))
                    .failure()
            })?;
        }
        Ok(report)
    }

    /// Removes what `policy` selects, decided line by line in log order by
    /// `annal_core::decide::RetentionPass`, so every stream keeps a contiguous suffix of its versions.
    fn retain(&mut self, policy: RetentionPolicy) -> Result<RetentionReport, RetentionError> {
        let total = read_index(&self.index)?.total_events();
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
            .map_err(|reason| self.poison(reason).failure())?;
        Ok(RetentionReport {
            removed: compacted.removed,
            protected: compacted.protected,
        })
    }
}
