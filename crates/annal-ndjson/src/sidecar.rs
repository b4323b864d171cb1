//! The small files beside the log: `index.json` (a summary of the log), `streams.json`
//! (counters that outlive removed events), and one file per snapshot and per projection.
//!
//! Every one of them is replaced atomically ([`crate::atomic::write_atomic`]). `index.json` is
//! a cache: the log is the truth and the index is rebuilt from it when it is missing, damaged
//! or stale. `streams.json` is not a cache: it is written before any removal, so a stream's
//! version counter and the store's position counter never go down, even after a crash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use annal_core::{Position, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::file_names::sidecar_files;
use crate::index::Index;

/// The `format` of every annal NDJSON store's `index.json`.
pub(crate) const FORMAT: &str = "annal-ndjson";
/// The on-disk format version this build writes and reads (see `docs/ndjson-format.md`).
pub const FORMAT_VERSION: u32 = 2;

/// `streams.json`: the last version of every stream and the last position, removed events
/// included, and the last position format version 1 wrote (lines up to it may lack a checksum).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Counters {
    #[serde(default)]
    pub(crate) format_version: u32,
    pub(crate) last_position: u64,
    pub(crate) streams: BTreeMap<String, u64>,
    /// Absent in format version 1, whose lines all lack a checksum.
    #[serde(default)]
    pub(crate) unchecked_through: u64,
}

impl Counters {
    /// Positions up to which a line may lack a checksum: all of them in a store that format
    /// version 2 has not opened for writing yet.
    pub(crate) fn unchecked_through(&self) -> u64 {
        if self.format_version >= 2 {
            self.unchecked_through
        } else {
            u64::MAX
        }
    }
}

/// `index.json`: a summary of the log, in the spirit of the seed ledger's index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    pub(crate) format: String,
    pub(crate) format_version: u32,
    pub(crate) event_count: u64,
    pub(crate) oldest_timestamp: Option<i64>,
    pub(crate) newest_timestamp: Option<i64>,
    pub(crate) first_position: Option<u64>,
    pub(crate) last_position: u64,
    /// The length of the log this summary describes: a shorter log means a stale summary.
    pub(crate) log_bytes: u64,
    pub(crate) log_lines: u64,
    /// Every stream's head (its last assigned version).
    pub(crate) streams: BTreeMap<String, u64>,
}

impl Summary {
    pub(crate) fn of(index: &Index) -> Self {
        let stats = index.stats(0);
        Self {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            event_count: stats.total_events,
            oldest_timestamp: stats.oldest_timestamp,
            newest_timestamp: stats.newest_timestamp,
            first_position: stats.first_position.map(|p| p.0),
            last_position: index.last_position,
            log_bytes: index.next.offset,
            log_lines: index.next.line,
            streams: index.counters().streams,
        }
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // A struct of plain fields always serializes.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// What `index.json` held at open.
#[derive(Debug)]
pub(crate) enum IndexFile {
    Missing,
    /// Not JSON, or not the summary's shape (a torn or truncated write, say).
    Damaged(String),
    /// JSON without the annal marker: another program's directory (the seed ledger's index).
    Foreign,
    Annal(Summary),
}

pub(crate) fn read_index(path: &Path) -> std::io::Result<IndexFile> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(IndexFile::Missing);
        }
        Err(error) => return Err(error),
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(error) => return Ok(IndexFile::Damaged(error.to_string())),
    };
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Ok(if value.is_object() {
            IndexFile::Foreign
        } else {
            IndexFile::Damaged("not a JSON object".into())
        });
    }
    Ok(match serde_json::from_value(value) {
        Ok(summary) => IndexFile::Annal(summary),
        Err(error) => IndexFile::Damaged(error.to_string()),
    })
}

/// Reads `streams.json`; a missing file holds no counters.
pub(crate) fn read_counters(path: &Path) -> Result<Counters, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| error.to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Counters::default()),
        Err(error) => Err(error.to_string()),
    }
}

pub(crate) fn counters_json(counters: &Counters) -> Vec<u8> {
    let counters = Counters {
        format_version: FORMAT_VERSION,
        ..counters.clone()
    };
    serde_json::to_vec_pretty(&counters).unwrap_or_default()
}

/// A projection's file: its name, checkpoint and state together.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectionFile {
    pub(crate) name: String,
    pub(crate) checkpoint: Position,
    pub(crate) state: Value,
}

/// The fields of a snapshot or projection file that open needs (the state is skipped).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SidecarHead {
    /// A snapshot's stream.
    aggregate_id: Option<String>,
    /// A projection's name.
    name: Option<String>,
    /// A snapshot's version.
    version: Option<u64>,
}

/// One snapshot or projection file found at open.
#[derive(Debug)]
pub(crate) struct SidecarEntry {
    /// Its file name in the directory.
    pub(crate) file: String,
    /// The stream or projection its content names.
    pub(crate) owner: String,
    /// A snapshot's version.
    pub(crate) version: Option<u64>,
}

/// Which sidecar directory a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SidecarKind {
    Snapshot,
    Projection,
}

/// Reads every annal snapshot or projection file in `dir`; files not named the way annal names
/// them are not annal's and are skipped. Fails naming the first annal file that does not decode.
pub(crate) fn read_sidecar_dir(
    dir: &Path,
    kind: SidecarKind,
) -> Result<Vec<SidecarEntry>, (PathBuf, String)> {
    let files = sidecar_files(dir).map_err(|error| (dir.to_path_buf(), error.to_string()))?;
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        let path = dir.join(&file);
        let bytes = std::fs::read(&path).map_err(|error| (path.clone(), error.to_string()))?;
        let (owner, version) = decode_head(&bytes, kind).map_err(|reason| (path, reason))?;
        entries.push(SidecarEntry {
            file,
            owner,
            version,
        });
    }
    Ok(entries)
}

/// The owner a snapshot or projection file names, and a snapshot's version.
pub(crate) fn decode_head(
    bytes: &[u8],
    kind: SidecarKind,
) -> Result<(String, Option<u64>), String> {
    let head: SidecarHead =
        serde_json::from_slice(bytes).map_err(|error| format!("does not decode: {error}"))?;
    match kind {
        SidecarKind::Snapshot => match (head.aggregate_id, head.version) {
            (Some(owner), Some(version)) => Ok((owner, Some(version))),
            _ => Err("has no aggregateId or no version".into()),
        },
        SidecarKind::Projection => match head.name {
            Some(owner) => Ok((owner, None)),
            None => Err("has no name".into()),
        },
    }
}

/// The stream and version of every snapshot, from the entries of `snapshots/`.
pub(crate) fn snapshot_versions(entries: &[SidecarEntry]) -> BTreeMap<String, u64> {
    entries
        .iter()
        .filter_map(|entry| Some((entry.owner.clone(), entry.version?)))
        .collect()
}

/// Reads the snapshot file at `path`, which must belong to `stream`.
pub(crate) fn load_snapshot_file(path: &Path, stream: &str) -> Result<Option<Snapshot>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if snapshot.aggregate_id.as_str() != stream {
        return Err(format!(
            "the file holds the snapshot of stream {}",
            snapshot.aggregate_id
        ));
    }
    Ok(Some(snapshot))
}
