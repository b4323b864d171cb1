//! Where each file of a store directory lives, and how names become file names.
//!
//! The directory holds `events.ndjson` (the log, the truth), `index.json` (a summary rebuilt
//! from the log), `streams.json` (counters that outlive removed events), `snapshots/` and
//! `projections/` (one small file per stream or projection) and `.lock` (the writer lock).
//! `docs/ndjson-format.md` specifies each file.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

/// The log: one annal envelope per line.
pub(crate) const EVENTS_FILE: &str = "events.ndjson";
/// The summary of the log.
pub(crate) const INDEX_FILE: &str = "index.json";
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

/// Longest file name (before `.json`) built from a name; longer ones are hashed instead, as
/// common file systems cap names at 255 bytes and escaping can triple a 256-byte name.
const FILE_STEM_BYTES_MAX: usize = 180;

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

/// A portable, reversible-looking file name for `name`: ASCII letters, digits, `-` and `_` stay,
/// every other byte becomes `%XX`, so `task-1` is `task-1.json` and `a/b` is `a%2Fb.json`.
/// The file's content names its stream or projection, which is what readers trust.
pub(crate) fn file_name(name: &str) -> String {
    let mut stem = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            stem.push(char::from(byte));
        } else {
            stem.push_str(&format!("%{byte:02X}"));
        }
    }
    if stem.len() > FILE_STEM_BYTES_MAX {
        // Two differently keyed hashes: 128 bits, so distinct long names never share a file
        // in practice; the content's name is still checked on load.
        let mut first = DefaultHasher::new();
        name.hash(&mut first);
        let mut second = DefaultHasher::new();
        (name, 0x5eed_u32).hash(&mut second);
        stem = format!("~{:016x}{:016x}", first.finish(), second.finish());
    }
    stem.push_str(".json");
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(name: &str, expected: &str) {
        assert_eq!(file_name(name), expected);
    }

    #[test]
    fn names_become_safe_file_names() {
        check("task-1", "task-1.json");
        check("a/b", "a%2Fb.json");
        check("..", "%2E%2E.json");
        check("é", "%C3%A9.json");
        let long = "x".repeat(256);
        let hashed = file_name(&long);
        assert!(hashed.starts_with('~') && hashed.len() < 60, "{hashed}");
        assert_ne!(hashed, file_name(&"y".repeat(256)));
    }
}
