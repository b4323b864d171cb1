//! [`backup`]: a consistent copy of a store directory, taken while its writer keeps appending.
//!
//! No lock is taken, so the writer is never paused. Consistency comes from the order of the
//! copies and a check at the end:
//!
//! 1. The log is copied first, from one open handle, up to its length at that moment, cut at the
//!    last complete line. A compaction that renames a new log into place meanwhile does not
//!    matter: the handle keeps reading the old file, which is whole. A group still being written
//!    leaves at most an incomplete last batch, which opening the copy cuts off as a torn tail.
//! 2. `streams.json`, the snapshots and the projection files are copied after the log, so each
//!    is at least as new as the log copy. The counters may then run ahead of the copied log,
//!    which only means positions and versions that the copy never uses again (the same as
//!    after a removal).
//! 3. The copy is opened as a store (which cuts a torn tail and rebuilds the index), and a
//!    snapshot newer than its stream in the copy, or a projection whose checkpoint is past the
//!    copy's head, is removed: it describes events the copy does not hold. A snapshot is an
//!    optimisation and a projection rebuilds from the log, so removing them loses nothing.
//!
//! The index and the lock are not copied: the copy gets its own.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use annal_core::{Direction, Filter, Position, Store, StreamId, Version};
use serde_json::Value;

use crate::atomic::sync_dir;
use crate::error::OpenError;
use crate::layout::{EVENTS_FILE, PROJECTIONS_DIR, SNAPSHOTS_DIR, STREAMS_FILE, TEMP_SUFFIX};
use crate::store::NdjsonStore;

/// What [`backup`] copied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupSummary {
    /// The last position the copy holds.
    pub head: Position,
    /// Bytes of log copied (after cutting a torn tail).
    pub log_bytes: u64,
    /// Snapshot and projection files left out because they were written after the log was
    /// copied and describe events the copy does not hold.
    pub dropped: Vec<PathBuf>,
}

/// Why a backup failed. A failed backup may leave a partial destination directory behind; it is
/// never mistaken for a finished one by this function, which refuses existing destinations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The destination exists; a backup never overwrites anything.
    #[error("{path} already exists; a backup never overwrites anything")]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// The source is not a store, or the copy did not open.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Reading the copy back failed.
    #[error("checking the copy: {0}")]
    Check(#[from] annal_core::ReadError),
    /// Copying a file failed.
    #[error("{context} {path}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io {
        context,
        path,
        source,
    }
}

/// Copies the store in directory `source` into the new directory `dest` (see the module doc),
/// and returns once the copy is durable.
///
/// Must run inside a tokio runtime: file work runs on its blocking threads.
pub async fn backup(
    source: impl AsRef<Path>,
    dest: impl AsRef<Path>,
) -> Result<BackupSummary, BackupError> {
    let source = source.as_ref().to_path_buf();
    let dest = dest.as_ref().to_path_buf();
    // Opening read-only checks that the source is an annal store before anything is created.
    let checked = source.clone();
    blocking(move || {
        NdjsonStore::open_read_only(&checked)
            .map(drop)
            .map_err(Into::into)
    })
    .await?;
    let copy_dest = dest.clone();
    let log_bytes = blocking(move || copy_files(&source, &copy_dest)).await?;
    let opened = dest.clone();
    let copy = blocking(move || NdjsonStore::open(&opened).map_err(Into::into)).await?;
    let head = last_position(&copy).await?;
    let log_bytes = log_bytes
        - copy
            .recovery()
            .torn_tail
            .as_ref()
            .map_or(0, |torn| torn.bytes);
    let mut dropped = Vec::new();
    for (path, stream, version) in sidecars(&dest.join(SNAPSHOTS_DIR), "aggregateId", "version")? {
        let ahead = match StreamId::new(stream) {
            Ok(stream) => copy.stream_version(&stream).await? < Version(version),
            Err(_) => false,
        };
        if ahead {
            dropped.push(path);
        }
    }
    for (path, _, checkpoint) in sidecars(&dest.join(PROJECTIONS_DIR), "name", "checkpoint")? {
        if checkpoint > head.0 {
            dropped.push(path);
        }
    }
    drop(copy);
    for path in &dropped {
        std::fs::remove_file(path).map_err(io("removing", path))?;
        if let Some(parent) = path.parent() {
            sync_dir(parent).map_err(io("syncing", parent))?;
        }
    }
    Ok(BackupSummary {
        head,
        log_bytes,
        dropped,
    })
}

/// The position of the last event the copy holds (its head counter may be further on, see the
/// module doc).
async fn last_position(store: &NdjsonStore) -> Result<Position, BackupError> {
    let filter = Filter {
        limit: Some(1),
        direction: Direction::Backward,
        ..Filter::all()
    };
    let last = annal_core::collect(store.query(&filter).await?).await?;
    Ok(last.first().map_or(Position(0), |event| event.position))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| BackupError::Io {
            context: "running the copy",
            path: PathBuf::new(),
            source: std::io::Error::other(error.to_string()),
        })?
}

/// Copies the log, then the counters, snapshots and projections; returns the log bytes copied.
fn copy_files(source: &Path, dest: &Path) -> Result<u64, BackupError> {
    std::fs::create_dir(dest).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::DestinationExists {
            path: dest.to_path_buf(),
        },
        _ => BackupError::Io {
            context: "creating",
            path: dest.to_path_buf(),
            source,
        },
    })?;
    let log_bytes = copy_log(&source.join(EVENTS_FILE), &dest.join(EVENTS_FILE))?;
    let counters = source.join(STREAMS_FILE);
    if counters.exists() {
        copy_file(&counters, &dest.join(STREAMS_FILE))?;
    }
    for sub in [SNAPSHOTS_DIR, PROJECTIONS_DIR] {
        copy_dir(&source.join(sub), &dest.join(sub))?;
    }
    sync_dir(dest).map_err(io("syncing", dest))?;
    Ok(log_bytes)
}

/// Copies the log up to its current length, cut after the last complete line.
fn copy_log(from: &Path, to: &Path) -> Result<u64, BackupError> {
    let file = File::open(from).map_err(io("opening", from))?;
    let length = file
        .metadata()
        .map_err(io("reading the size of", from))?
        .len();
    let mut reader = BufReader::with_capacity(1 << 20, file.take(length));
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, File::create(to).map_err(io("creating", to))?);
    let mut line = Vec::new();
    let mut copied = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(io("reading", from))?;
        if read == 0 || line.last() != Some(&b'\n') {
            break;
        }
        out.write_all(&line).map_err(io("writing", to))?;
        copied += read as u64;
    }
    let file = out.into_inner().map_err(|error| BackupError::Io {
        context: "writing",
        path: to.to_path_buf(),
        source: error.into_error(),
    })?;
    file.sync_all().map_err(io("syncing", to))?;
    Ok(copied)
}

fn copy_file(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::copy(from, to).map_err(io("copying", from))?;
    File::open(to)
        .and_then(|file| file.sync_all())
        .map_err(io("syncing", to))
}

/// Copies the finished files of a sidecar directory (not the temp files of a write in flight).
fn copy_dir(from: &Path, to: &Path) -> Result<(), BackupError> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io("listing", from)(error)),
    };
    std::fs::create_dir(to).map_err(io("creating", to))?;
    for entry in entries {
        let path = entry.map_err(io("listing", from))?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if path.is_file() && !name.to_string_lossy().ends_with(TEMP_SUFFIX) {
            match copy_file(&path, &to.join(name)) {
                // Replaced or removed by the writer between listing and copying: a newer file
                // would describe events past the log copy anyway.
                Err(BackupError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    sync_dir(to).map_err(io("syncing", to))
}

/// The files of a copied sidecar directory with the name and counter each one records.
fn sidecars(
    dir: &Path,
    name_field: &str,
    counter_field: &str,
) -> Result<Vec<(PathBuf, String, u64)>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io("listing", dir)(error)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(io("listing", dir))?.path();
        let text = std::fs::read_to_string(&path).map_err(io("reading", &path))?;
        let corrupted = |reason: String| {
            BackupError::Open(OpenError::Corrupted {
                path: path.clone(),
                line: 1,
                offset: 0,
                reason,
            })
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| corrupted(e.to_string()))?;
        let name = value[name_field].as_str().map(str::to_owned);
        let counter = value[counter_field].as_u64();
        let (Some(name), Some(counter)) = (name, counter) else {
            return Err(corrupted(format!("no {name_field} or {counter_field}")));
        };
        found.push((path, name, counter));
    }
    Ok(found)
}
