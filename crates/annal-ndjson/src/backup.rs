//! [`backup`]: a consistent copy of a store directory, taken while its writer keeps appending.
//!
//! No lock is taken, so the writer is never paused. The copy is the store as it was at one
//! moment, found optimistically:
//!
//! 1. The sidecar files (`streams.json`, the snapshots, the projections) are read into memory,
//!    and the identity (device and inode) of the log is noted.
//! 2. The log is copied from one open handle up to its synced length at that moment (what
//!    `head.json` says), cut after the last complete line. Appends only add bytes at the end,
//!    and a group whose fsync has not returned is never copied; a store without a `head.json`
//!    is copied to its length, and an incomplete last batch is cut off as a torn tail when the
//!    copy is opened.
//! 3. The sidecars are read again and the log's identity checked. Snapshot and projection saves
//!    replace their files, and every removal rewrites `streams.json` and then renames a new log
//!    into place, so if nothing changed, the sidecars read in step 1 describe exactly the log
//!    copied in step 2 (plus, at most, later appends they do not mention). If anything changed,
//!    the attempt is thrown away and the copy starts again, a few times, before giving up with
//!    [`BackupError::Busy`].
//!
//! The copy is built in `<dest>.partial`, opened once as a store (which cuts a torn tail and
//! builds its index), then renamed to `dest` and made durable, so a failed backup never leaves
//! something that looks like a finished one. `index.json` and `.lock` are never copied.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use annal_core::{Direction, Filter, Position, Store};

use crate::atomic::sync_dir;
use crate::error::OpenError;
use crate::head::{self, inode_of};
use crate::layout::{
    EVENTS_FILE, HEAD_FILE, PROJECTIONS_DIR, SNAPSHOTS_DIR, STREAMS_FILE, TEMP_SUFFIX,
};
use crate::store::NdjsonStore;

/// What [`backup`] copied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupSummary {
    /// The last position the copy holds.
    pub head: Position,
    /// Bytes of log copied (after cutting a torn tail).
    pub log_bytes: u64,
    /// How many tries it took to copy without a concurrent snapshot, projection save or
    /// removal (1 when the store was quiet).
    pub attempts: u32,
}

/// Why a backup failed. A failed backup may leave `<dest>.partial` behind, never `dest`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The destination exists; a backup never overwrites anything.
    #[error("{path} already exists; a backup never overwrites anything")]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// Every try saw a snapshot, projection save or removal happen during the copy.
    #[error(
        "the store changed during each of {attempts} tries to copy it (snapshots, projection \
         saves or removals while copying); try again when it is quieter"
    )]
    Busy {
        /// How many tries were made.
        attempts: u32,
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

/// Tries before [`BackupError::Busy`].
const ATTEMPTS_MAX: u32 = 8;

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
    if dest.exists() {
        return Err(BackupError::DestinationExists { path: dest });
    }
    // Opening read-only checks that the source is an annal store before anything is created.
    let checked = source.clone();
    blocking(move || {
        NdjsonStore::open_read_only(&checked)
            .map(drop)
            .map_err(Into::into)
    })
    .await?;
    let partial = partial_path(&dest);
    let (from, into) = (source.clone(), partial.clone());
    let (log_bytes, attempts) = blocking(move || copy_consistently(&from, &into)).await?;
    let opened = partial.clone();
    let copy = blocking(move || NdjsonStore::open(&opened).map_err(Into::into)).await?;
    let head = last_position(&copy).await?;
    let log_bytes = log_bytes
        - copy
            .recovery()
            .torn_tail
            .as_ref()
            .map_or(0, |torn| torn.bytes);
    drop(copy);
    let (from, into) = (partial, dest);
    blocking(move || {
        if into.exists() {
            return Err(BackupError::DestinationExists { path: into });
        }
        std::fs::rename(&from, &into).map_err(io("renaming", &from))?;
        let parent = match into.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        sync_dir(&parent).map_err(io("syncing", &parent))
    })
    .await?;
    Ok(BackupSummary {
        head,
        log_bytes,
        attempts,
    })
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// The position of the last event the copy holds (its head counter may be further on, as after
/// any removal).
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

/// The sidecar files of a store, by path relative to the store directory, with their bytes.
type Sidecars = BTreeMap<PathBuf, Vec<u8>>;

/// Copies log and sidecars into the new directory `into` until one try saw no sidecar change
/// and no new log; returns the log bytes copied and the number of tries.
fn copy_consistently(source: &Path, into: &Path) -> Result<(u64, u32), BackupError> {
    for attempt in 1..=ATTEMPTS_MAX {
        std::fs::create_dir(into).map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::DestinationExists {
                path: into.to_path_buf(),
            },
            _ => BackupError::Io {
                context: "creating",
                path: into.to_path_buf(),
                source: error,
            },
        })?;
        let before = read_sidecars(source)?;
        let log = source.join(EVENTS_FILE);
        let log_bytes = copy_log(&log, &source.join(HEAD_FILE), &into.join(EVENTS_FILE))?;
        let after = read_sidecars(source)?;
        if before.sidecars == after.sidecars
            && before.log_identity == after.log_identity
            && before.log_identity == log_bytes.identity
        {
            write_sidecars(&before.sidecars, into)?;
            sync_dir(into).map_err(io("syncing", into))?;
            return Ok((log_bytes.bytes, attempt));
        }
        std::fs::remove_dir_all(into).map_err(io("removing", into))?;
    }
    Err(BackupError::Busy {
        attempts: ATTEMPTS_MAX,
    })
}

/// The sidecars and which file the log path names, read together.
struct Observed {
    sidecars: Sidecars,
    log_identity: Option<(u64, u64)>,
}

fn read_sidecars(source: &Path) -> Result<Observed, BackupError> {
    let mut sidecars = Sidecars::new();
    let counters = source.join(STREAMS_FILE);
    if let Some(bytes) = read_if_present(&counters)? {
        sidecars.insert(PathBuf::from(STREAMS_FILE), bytes);
    }
    for sub in [SNAPSHOTS_DIR, PROJECTIONS_DIR] {
        let dir = source.join(sub);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(io("listing", &dir)(error)),
        };
        for entry in entries {
            let path = entry.map_err(io("listing", &dir))?.path();
            let Some(name) = path.file_name() else {
                continue;
            };
            // A temp file is a save in flight; the save's rename shows up as a change.
            if name.to_string_lossy().ends_with(TEMP_SUFFIX) || !path.is_file() {
                continue;
            }
            if let Some(bytes) = read_if_present(&path)? {
                sidecars.insert(Path::new(sub).join(name), bytes);
            }
        }
    }
    let log = source.join(EVENTS_FILE);
    let log_identity = identity(&std::fs::metadata(&log).map_err(io("reading", &log))?);
    Ok(Observed {
        sidecars,
        log_identity,
    })
}

/// A file's bytes, or `None` if it was removed (a delete or an atomic replace in between).
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, BackupError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io("reading", path)(error)),
    }
}

/// Which file a path names: a removal renames a new log into place, which changes it.
#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

/// Without inode numbers, a new log is not detectable this way; the sidecars still are, and
/// every removal rewrites `streams.json` first.
#[cfg(not(unix))]
fn identity(_metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

fn write_sidecars(sidecars: &Sidecars, into: &Path) -> Result<(), BackupError> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (relative, bytes) in sidecars {
        let path = into.join(relative);
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            std::fs::create_dir(parent).map_err(io("creating", parent))?;
            dirs.push(parent.to_path_buf());
        }
        let mut file = File::create(&path).map_err(io("creating", &path))?;
        file.write_all(bytes).map_err(io("writing", &path))?;
        file.sync_all().map_err(io("syncing", &path))?;
    }
    for dir in dirs {
        sync_dir(&dir).map_err(io("syncing", &dir))?;
    }
    Ok(())
}

/// What [`copy_log`] copied, and from which file.
struct CopiedLog {
    bytes: u64,
    identity: Option<(u64, u64)>,
}

/// Copies the log up to its synced length (`head.json`; its current length if no head names
/// it), cut after the last complete line: an append whose fsync has not returned could still be
/// taken back, and its position reused, so it must not reach the copy.
fn copy_log(from: &Path, head_path: &Path, to: &Path) -> Result<CopiedLog, BackupError> {
    let file = File::open(from).map_err(io("opening", from))?;
    let metadata = file.metadata().map_err(io("reading the size of", from))?;
    let identity = identity(&metadata);
    let head = head::read_settled(head_path).map_err(io("reading", head_path))?;
    let inode = inode_of(&file).map_err(io("reading", from))?;
    let length = head
        .synced_in(inode)
        .map_or(metadata.len(), |head| head.synced_bytes.min(metadata.len()));
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
    Ok(CopiedLog {
        bytes: copied,
        identity,
    })
}
