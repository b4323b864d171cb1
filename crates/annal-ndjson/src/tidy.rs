//! What a writer open tidies in a recognised store before it writes: leftovers of interrupted
//! atomic writes and compactions, and snapshot or projection files under format version 1
//! names.
//!
//! Invariant: only files annal writes are touched: in the store directory the temp files of its
//! own sidecars (`index.json.tmp`, `streams.json.tmp`), `events.ndjson.compact` and the derived
//! index a compaction was rebuilding (`index.sqlite.new`, with its journal); in
//! `snapshots/` and `projections/` files named the way annal names them (`file_names`). Anything
//! else in the directory, whatever its name, is left alone.

use std::path::{Path, PathBuf};

use crate::atomic::sync_dir;
use crate::error::OpenError;
use crate::file_names::{file_name, is_sidecar_temp};
use crate::layout::{
    COMPACT_FILE, DISK_INDEX_BUILDING, INDEX_FILE, Layout, PROJECTIONS_DIR, SNAPSHOTS_DIR,
    STREAMS_FILE, TEMP_SUFFIX,
};
use crate::sidecar::SidecarEntry;

/// Removes what interrupted atomic writes and compactions left behind; returns what it removed.
pub(crate) fn remove_leftovers(layout: &Layout) -> Result<Vec<PathBuf>, OpenError> {
    let mut removed = Vec::new();
    for name in [
        format!("{INDEX_FILE}{TEMP_SUFFIX}"),
        format!("{STREAMS_FILE}{TEMP_SUFFIX}"),
        COMPACT_FILE.to_owned(),
        DISK_INDEX_BUILDING.to_owned(),
        format!("{DISK_INDEX_BUILDING}-journal"),
    ] {
        remove_if_file(&layout.file(&name), &mut removed)?;
    }
    if !removed.is_empty() {
        sync_dir(layout.dir()).map_err(OpenError::io("syncing", layout.dir()))?;
    }
    for sub in [SNAPSHOTS_DIR, PROJECTIONS_DIR] {
        let dir = layout.file(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let before = removed.len();
        for entry in entries {
            let entry = entry.map_err(OpenError::io("listing", &dir))?;
            let is_temp = entry.file_name().to_str().is_some_and(is_sidecar_temp);
            if is_temp {
                remove_if_file(&entry.path(), &mut removed)?;
            }
        }
        if removed.len() > before {
            sync_dir(&dir).map_err(OpenError::io("syncing", &dir))?;
        }
    }
    Ok(removed)
}

fn remove_if_file(path: &Path, removed: &mut Vec<PathBuf>) -> Result<(), OpenError> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => {
            std::fs::remove_file(path).map_err(OpenError::io("removing", path))?;
            removed.push(path.to_path_buf());
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(OpenError::io("reading", path)(error)),
    }
}

/// Renames the files of `dir` whose name is not the one format version 2 gives their owner
/// (format version 1 names: capitals, uppercase escapes, unstable hashes). If both names exist,
/// the current one was written later and the old one is removed. Returns the renamed files'
/// new paths, and updates `entries` to match.
pub(crate) fn rename_legacy_files(
    dir: &Path,
    entries: &mut Vec<SidecarEntry>,
) -> Result<Vec<PathBuf>, OpenError> {
    let mut renamed = Vec::new();
    let mut superseded = Vec::new();
    for (entry_idx, entry) in entries.iter_mut().enumerate() {
        let wanted = file_name(&entry.owner);
        if entry.file == wanted {
            continue;
        }
        let from = dir.join(&entry.file);
        let to = dir.join(&wanted);
        if to.exists() {
            std::fs::remove_file(&from).map_err(OpenError::io("removing", &from))?;
            superseded.push(entry_idx);
        } else {
            std::fs::rename(&from, &to).map_err(OpenError::io("renaming", &from))?;
            entry.file = wanted;
            renamed.push(to);
        }
    }
    if !renamed.is_empty() || !superseded.is_empty() {
        sync_dir(dir).map_err(OpenError::io("syncing", dir))?;
    }
    for entry_idx in superseded.into_iter().rev() {
        entries.remove(entry_idx);
    }
    Ok(renamed)
}
