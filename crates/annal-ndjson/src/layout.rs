//! Where each file of a store directory lives, and how names become file names.
//!
//! The directory holds `events.ndjson` (the log, the truth), `index.json` (a summary rebuilt
//! from the log), `index.sqlite` (the derived index of the log up to a watermark, rebuilt from
//! the log if lost), `streams.json` (counters that outlive removed events), `snapshots/` and
//! `projections/` (one small file per stream or projection) and `.lock` (the writer lock).
//! `docs/ndjson-format.md` specifies each file; `file_names` turns stream and projection names
//! into file names.

use std::path::{Path, PathBuf};

use crate::file_names::file_name;

/// The log: one annal envelope per line.
pub(crate) const EVENTS_FILE: &str = "events.ndjson";
/// The summary of the log.
pub(crate) const INDEX_FILE: &str = "index.json";
/// The derived index of the log up to a watermark (`disk/`), rebuilt from the log if lost.
pub(crate) const DISK_INDEX_FILE: &str = "index.sqlite";
/// The derived index a compaction rebuilds, renamed over `index.sqlite` when complete.
pub(crate) const DISK_INDEX_BUILDING: &str = "index.sqlite.new";
/// How far the log is known synced, published after every fsync.
pub(crate) const HEAD_FILE: &str = "head.json";
/// Counters that must survive the removal of the events that reached them.
pub(crate) const STREAMS_FILE: &str = "streams.json";
/// The writer lock (the seed ledger's name for it, so one directory has one lock file).
pub(crate) const LOCK_FILE: &str = ".lock";
/// The snapshot directory: one file per stream.
pub(crate) const SNAPSHOTS_DIR: &str = "snapshots";
/// The projection directory: one file per projection.
pub(crate) const PROJECTIONS_DIR: &str = "projections";
/// The log being rewritten by a compaction; renamed over the log when complete.
pub(crate) const COMPACT_FILE: &str = "events.ndjson.compact";
/// The suffix of a sidecar file being written atomically.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// The paths of one store directory.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    dir: PathBuf,
}

impl Layout {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn events(&self) -> PathBuf {
        self.file(EVENTS_FILE)
    }

    pub(crate) fn snapshot(&self, stream: &str) -> PathBuf {
        self.dir.join(SNAPSHOTS_DIR).join(file_name(stream))
    }

    pub(crate) fn projection(&self, name: &str) -> PathBuf {
        self.dir.join(PROJECTIONS_DIR).join(file_name(name))
    }
}
