//! Opening a store directory: recognise it, take the writer lock, recover the log, build the
//! index, and start the writer thread (or, read-only, the follower).
//!
//! Invariants: nothing is written to a directory before it is recognised as an annal store (or
//! is new) and the writer lock is held; a read-only open writes nothing at all. The log is the
//! truth: `index.json` is only compared with what the scan found and rewritten when it differs.
//! Recovery cuts a torn tail (an unfinished, unacknowledged append) and refuses, with the file,
//! line and byte offset, a damaged line that good lines follow.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use annal_core::Position;
use tokio::sync::watch;

use crate::atomic::{sync_dir, write_atomic};
use crate::build::{BuildError, Built, build};
use crate::error::OpenError;
use crate::layout::{
    EVENTS_FILE, INDEX_FILE, LOCK_FILE, Layout, PROJECTIONS_DIR, SNAPSHOTS_DIR, STREAMS_FILE,
};
use crate::line::header;
use crate::lock;
use crate::options::OpenOptions;
use crate::poll::Poller;
use crate::recovery::{IndexStatus, Recovery, TornTail};
use crate::scan::{LINE_BYTES_MAX, Problem};
use crate::sidecar::{
    Counters, FORMAT_VERSION, IndexFile, SidecarKind, Summary, read_counters, read_index,
    read_sidecar_dir, snapshot_versions,
};
use crate::store::{Handle, NdjsonStore};
use crate::tidy::{remove_leftovers, rename_legacy_files};
use crate::writer::{WriterHandle, WriterParts, WriterState};

/// Opens the store in `dir` (see [`NdjsonStore::open_with`]).
pub(crate) fn open(dir: &Path, options: OpenOptions) -> Result<NdjsonStore, OpenError> {
    let layout = Layout::new(dir);
    if options.read_only {
        open_read_only(layout, options)
    } else {
        open_writer(layout, options)
    }
}

fn open_writer(layout: Layout, options: OpenOptions) -> Result<NdjsonStore, OpenError> {
    let dir = layout.dir().to_path_buf();
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(OpenError::io("creating", &dir))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(OpenError::io("syncing the parent of", &dir))?;
        }
    }
    inspect(&layout)?;
    let lock = lock::acquire(&layout, options.lock_timeout)?;
    // Again under the lock: the directory may have changed while we waited for it.
    let index_file = inspect(&layout)?;
    let removed_temp_files = remove_leftovers(&layout)?;
    let counters = counters(&layout)?;
    let events_path = layout.events();
    let created = !events_path.exists();
    let log = File::options()
        .create(true)
        .append(true)
        .open(&events_path)
        .map_err(OpenError::io("opening", &events_path))?;
    if created {
        sync_dir(&dir).map_err(OpenError::io("syncing", &dir))?;
    }
    let read = File::open(&events_path).map_err(OpenError::io("opening", &events_path))?;
    let built = build_index(&layout, Arc::new(read), &counters, true)?;
    let torn_tail = match built.end.problem.clone() {
        None => None,
        Some(Problem::Corrupt {
            line,
            offset,
            reason,
        }) => {
            return Err(OpenError::Corrupted {
                path: events_path,
                line,
                offset,
                reason,
            });
        }
        Some(Problem::Torn {
            offset,
            bytes,
            reason,
        }) => {
            // Cut before anything is appended, or the next append would land behind the torn
            // bytes and be lost with them (the seed's defect 21).
            log.set_len(offset)
                .and_then(|()| log.sync_all())
                .map_err(OpenError::io("cutting the torn tail of", &events_path))?;
            Some(TornTail {
                offset,
                bytes,
                reason,
                cut: true,
            })
        }
    };
    let (snapshots, renamed_files) = sidecar_dirs(&layout)?;
    let status = index_status(&index_file, &Summary::of(&built.index));
    if status != IndexStatus::Current || torn_tail.is_some() {
        let path = layout.file(INDEX_FILE);
        write_atomic(&path, &Summary::of(&built.index).to_json())
            .map_err(OpenError::io("writing", &path))?;
    }
    let recovery = Recovery {
        torn_tail,
        index: status,
        events: built.index.entries.len() as u64,
        removed_temp_files,
        renamed_files,
    };
    let (head_sender, head) = watch::channel(Position(built.index.last_position));
    let state = WriterState::new(&built.index, built.ids, snapshots);
    let index = Arc::new(RwLock::new(built.index));
    let writer = WriterHandle::start(WriterParts {
        layout: layout.clone(),
        log,
        index: Arc::clone(&index),
        state,
        durability: options.durability,
        head: head_sender,
    })
    .map_err(OpenError::io("starting the writer thread for", &dir))?;
    let handle = Handle::writer(writer, lock);
    Ok(NdjsonStore::new(
        layout, options, head, index, recovery, handle,
    ))
}

fn open_read_only(layout: Layout, options: OpenOptions) -> Result<NdjsonStore, OpenError> {
    let events_path = layout.events();
    if !events_path.is_file() {
        return Err(OpenError::NotFound { path: events_path });
    }
    let index_file = inspect(&layout)?;
    let counters = counters(&layout)?;
    let read = File::open(&events_path).map_err(OpenError::io("opening", &events_path))?;
    let built = build_index(&layout, Arc::new(read), &counters, false)?;
    let torn_tail = match built.end.problem.clone() {
        None => None,
        Some(Problem::Corrupt {
            line,
            offset,
            reason,
        }) => {
            return Err(OpenError::Corrupted {
                path: events_path,
                line,
                offset,
                reason,
            });
        }
        // A writer may be in the middle of this append; either way, it is not readable yet.
        Some(Problem::Torn {
            offset,
            bytes,
            reason,
        }) => Some(TornTail {
            offset,
            bytes,
            reason,
            cut: false,
        }),
    };
    let recovery = Recovery {
        torn_tail,
        index: index_status(&index_file, &Summary::of(&built.index)),
        events: built.index.entries.len() as u64,
        removed_temp_files: Vec::new(),
        renamed_files: Vec::new(),
    };
    let (head_sender, head) = watch::channel(Position(built.index.last_position));
    let index = Arc::new(RwLock::new(built.index));
    let poller = Poller::start(
        layout.clone(),
        Arc::clone(&index),
        head_sender,
        options.poll_interval,
    )
    .map_err(OpenError::io(
        "starting the follower thread for",
        layout.dir(),
    ))?;
    let handle = Handle::read_only(poller);
    Ok(NdjsonStore::new(
        layout, options, head, index, recovery, handle,
    ))
}

/// Reads `streams.json`, which must decode: it is the only record of removed counters.
fn counters(layout: &Layout) -> Result<Counters, OpenError> {
    let path = layout.file(STREAMS_FILE);
    read_counters(&path).map_err(|reason| OpenError::Corrupted {
        path,
        line: 1,
        offset: 0,
        reason,
    })
}

fn build_index(
    layout: &Layout,
    file: Arc<File>,
    counters: &Counters,
    with_ids: bool,
) -> Result<Built, OpenError> {
    build(file, counters, with_ids).map_err(|error| match error {
        BuildError::Counters(reason) => OpenError::Corrupted {
            path: layout.file(STREAMS_FILE),
            line: 1,
            offset: 0,
            reason,
        },
        BuildError::Io(source) => OpenError::Io {
            context: "reading",
            path: layout.events(),
            source,
        },
    })
}

/// Reads the snapshot and projection directories: the snapshot versions, and the files renamed
/// from format version 1 names. A damaged annal file fails the open, naming it.
fn sidecar_dirs(layout: &Layout) -> Result<(BTreeMap<String, u64>, Vec<PathBuf>), OpenError> {
    let mut renamed = Vec::new();
    let mut snapshots = BTreeMap::new();
    for (sub, kind) in [
        (SNAPSHOTS_DIR, SidecarKind::Snapshot),
        (PROJECTIONS_DIR, SidecarKind::Projection),
    ] {
        let dir = layout.file(sub);
        let mut entries =
            read_sidecar_dir(&dir, kind).map_err(|(path, reason)| OpenError::Corrupted {
                path,
                line: 1,
                offset: 0,
                reason,
            })?;
        renamed.extend(rename_legacy_files(&dir, &mut entries)?);
        if kind == SidecarKind::Snapshot {
            snapshots = snapshot_versions(&entries);
        }
    }
    Ok((snapshots, renamed))
}

/// Recognises the directory: an annal store (by its index, or, if the index is lost, by its
/// first line), a new one (absent, empty, or holding only a lock file), or something else,
/// which is refused untouched.
fn inspect(layout: &Layout) -> Result<IndexFile, OpenError> {
    let index_path = layout.file(INDEX_FILE);
    let index_file = read_index(&index_path).map_err(OpenError::io("reading", &index_path))?;
    if matches!(index_file, IndexFile::Missing) && !layout.events().exists() {
        check_new(layout.dir())?;
    }
    match &index_file {
        IndexFile::Foreign => Err(OpenError::NotAnnalStore {
            path: index_path,
            reason: "its index.json has no \"format\": \"annal-ndjson\" (a seed ledger? read it \
                     with annal_ndjson::read_seed_ledger and import it)"
                .into(),
        }),
        IndexFile::Annal(summary) if summary.format_version > FORMAT_VERSION => {
            Err(OpenError::NewerFormat {
                path: index_path,
                found: summary.format_version,
                supported: FORMAT_VERSION,
            })
        }
        IndexFile::Annal(_) => Ok(index_file),
        IndexFile::Missing | IndexFile::Damaged(_) => {
            check_first_line(&layout.events())?;
            Ok(index_file)
        }
    }
}

/// Without a readable index, the log's first line must be an annal envelope (or the log empty).
fn check_first_line(path: &Path) -> Result<(), OpenError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(OpenError::io("opening", path)(error)),
    };
    let mut first = Vec::new();
    BufReader::new(file)
        .take(LINE_BYTES_MAX as u64)
        .read_until(b'\n', &mut first)
        .map_err(OpenError::io("reading", path))?;
    if first.is_empty() {
        return Ok(());
    }
    let text = first.strip_suffix(b"\n").unwrap_or(&first);
    match header(text) {
        Ok(_) if first.ends_with(b"\n") => Ok(()),
        _ => Err(OpenError::NotAnnalStore {
            path: path.to_path_buf(),
            reason: "index.json is missing or damaged and line 1 is not an annal envelope (a \
                     seed ledger? read it with annal_ndjson::read_seed_ledger and import it)"
                .into(),
        }),
    }
}

fn index_status(found: &IndexFile, actual: &Summary) -> IndexStatus {
    match found {
        IndexFile::Missing => IndexStatus::Missing,
        IndexFile::Damaged(reason) => IndexStatus::Damaged {
            reason: reason.clone(),
        },
        IndexFile::Annal(summary) if summary == actual => IndexStatus::Current,
        IndexFile::Annal(_) | IndexFile::Foreign => IndexStatus::Stale,
    }
}

/// A directory without a log or an index becomes a store only if it holds nothing but what an
/// interrupted first open leaves (the lock file): annal never writes into someone else's files.
fn check_new(dir: &Path) -> Result<(), OpenError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(OpenError::io("listing", dir)(error)),
    };
    for entry in entries {
        let entry = entry.map_err(OpenError::io("listing", dir))?;
        if entry.file_name() != LOCK_FILE {
            return Err(OpenError::NotAnnalStore {
                path: entry.path(),
                reason: format!(
                    "the directory is not empty but holds no {EVENTS_FILE} or {INDEX_FILE}; a \
                     store is created only in a new or empty directory"
                ),
            });
        }
    }
    Ok(())
}
