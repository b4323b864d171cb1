//! Opening a store directory: recognise it, take the writer lock, recover the log, build the
//! index, and start the writer thread (or, read-only, the follower).
//!
//! Invariants: nothing is written to a directory before it is recognised as an annal store (or
//! is new and empty) and the writer lock is held; a read-only open writes nothing at all. The
//! log is the truth: `index.json` is only compared with what the scan found and rewritten when
//! it differs. Recovery cuts a torn tail (an unfinished, unacknowledged append after the synced
//! length `head.json` gives) and refuses, with the file, line and byte offset, a damaged line
//! before that length or with good lines after it. A writer open upgrades a format version 1
//! store before it appends, and leaves `head.json` durable and describing the recovered log.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use annal_core::Position;
use tokio::sync::watch;

use crate::atomic::{sync_dir, write_atomic};
use crate::build::{BuildError, Built, build, build_from};
use crate::disk::DiskIndex;
use crate::error::OpenError;
use crate::head::{self, Head, HeadFile, HeadWriter, inode_of};
use crate::ids::IdHasher;
use crate::index::Index;
use crate::layout::{
    DISK_INDEX_FILE, EVENTS_FILE, HEAD_FILE, INDEX_FILE, LOCK_FILE, Layout, PROJECTIONS_DIR,
    SNAPSHOTS_DIR, STREAMS_FILE,
};
use crate::line::header;
use crate::lock;
use crate::options::OpenOptions;
use crate::poll::Poller;
use crate::recovery::{HeadStatus, IndexStatus, Recovery, TornTail};
use crate::scan::{End, LINE_BYTES_MAX, Problem, Rules};
use crate::sidecar::{
    Counters, FORMAT_VERSION, IndexFile, SidecarKind, Summary, counters_json, read_counters,
    read_index, read_sidecar_dir, snapshot_versions,
};
use crate::store::{Handle, NdjsonStore};
use crate::tidy::{remove_leftovers, rename_legacy_files};
use crate::writer::{WriterDisk, WriterHandle, WriterParts, WriterState, move_tail};

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
    let (log, read) = open_log(&layout)?;
    let log_inode = inode_of(&read).map_err(OpenError::io("reading", layout.events()))?;
    let head_file = read_head(&layout)?;
    let (rules, head_status) = rules_for(&counters, &head_file, log_inode, false);
    // A pass during the build must not cover bytes a killed relaxed writer left unsynced.
    log.sync_data()
        .map_err(OpenError::io("syncing", layout.events()))?;
    let (mut built, disk) = writer_index(
        &layout,
        read,
        log_inode,
        &counters,
        rules,
        options.index_every,
    )?;
    let torn_tail = recover_tail(&layout, &log, &built.end)?;
    raise_to_head(&mut built.index, &head_file);
    let upgraded_from = upgrade(&layout, &counters, &mut built.index)?;
    let (snapshots, renamed_files) = sidecar_dirs(&layout)?;
    sync_names(&layout)?;
    let head_writer = start_head(&layout, &log, log_inode, &built.index)?;
    let status = index_status(&index_file, &Summary::of(&built.index));
    if status != IndexStatus::Current || torn_tail.is_some() {
        let path = layout.file(INDEX_FILE);
        write_atomic(&path, &Summary::of(&built.index).to_json())
            .map_err(OpenError::io("writing", &path))?;
    }
    let recovery = Recovery {
        torn_tail,
        index: status,
        head: head_status,
        upgraded_from,
        events: built.index.total_events(),
        scanned_lines: built.scanned_lines,
        removed_temp_files,
        renamed_files,
    };
    let (head_sender, head) = watch::channel(Position(built.index.last_position));
    let state = WriterState::new(&built.index, snapshots);
    let index = Arc::new(RwLock::new(built.index));
    let writer = WriterHandle::start(WriterParts {
        layout: layout.clone(),
        log,
        log_inode,
        head_file: head_writer,
        index: Arc::clone(&index),
        state,
        durability: options.durability,
        head: head_sender,
        disk,
    })
    .map_err(OpenError::io("starting the writer thread for", &dir))?;
    let handle = Handle::writer(writer, lock);
    Ok(NdjsonStore::new(
        layout, options, head, index, recovery, handle,
    ))
}

/// Opens (creating) the log for appending, and a second handle for reading.
fn open_log(layout: &Layout) -> Result<(File, File), OpenError> {
    let events_path = layout.events();
    let created = !events_path.exists();
    let log = File::options()
        .create(true)
        .append(true)
        .open(&events_path)
        .map_err(OpenError::io("opening", &events_path))?;
    if created {
        sync_dir(layout.dir()).map_err(OpenError::io("syncing", layout.dir()))?;
    }
    let read = File::open(&events_path).map_err(OpenError::io("opening", &events_path))?;
    Ok((log, read))
}

fn read_head(layout: &Layout) -> Result<HeadFile, OpenError> {
    let path = layout.file(HEAD_FILE);
    head::read_settled(&path).map_err(OpenError::io("reading", &path))
}

/// What the scan of a log with inode `log_inode` may trust: the synced length `head.json`
/// gives it (a reader reads no further), and where checksums become mandatory.
fn rules_for(
    counters: &Counters,
    head_file: &HeadFile,
    log_inode: u64,
    read_only: bool,
) -> (Rules, HeadStatus) {
    let synced = head_file.synced_in(log_inode).map(|head| head.synced_bytes);
    let status = match (head_file, synced) {
        (_, Some(synced_bytes)) => HeadStatus::Current { synced_bytes },
        (HeadFile::Missing, None) => HeadStatus::Missing,
        (HeadFile::Damaged(reason), None) => HeadStatus::Damaged {
            reason: reason.clone(),
        },
        (HeadFile::Valid(_), None) => HeadStatus::OtherLog,
    };
    let rules = Rules {
        unchecked_through: counters.unchecked_through(),
        // No head for this log: no byte of it is known to be synced.
        synced: synced.unwrap_or(0),
        limit: synced.filter(|_| read_only),
    };
    (rules, status)
}

/// Refuses damage, and cuts a torn tail before anything is appended (or the next append would
/// land behind the torn bytes and be lost with them, as in the seed's ledger).
fn recover_tail(layout: &Layout, log: &File, end: &End) -> Result<Option<TornTail>, OpenError> {
    match end.problem.clone() {
        None => Ok(None),
        Some(Problem::Corrupt {
            line,
            offset,
            reason,
        }) => Err(OpenError::Corrupted {
            path: layout.events(),
            line,
            offset,
            reason,
        }),
        Some(Problem::Torn {
            offset,
            bytes,
            reason,
        }) => {
            log.set_len(offset)
                .and_then(|()| log.sync_all())
                .map_err(OpenError::io("cutting the torn tail of", layout.events()))?;
            Ok(Some(TornTail {
                offset,
                bytes,
                reason,
                cut: true,
            }))
        }
    }
}

/// The position counter never goes below the last one `head.json` published, whichever log
/// file it described.
fn raise_to_head(index: &mut Index, head_file: &HeadFile) {
    if let HeadFile::Valid(head) = head_file {
        index.last_position = index.last_position.max(head.last_position);
    }
}

/// Upgrades a store format version 1 wrote: its lines, up to the last one now in the log, stay
/// valid without a checksum, recorded in `streams.json` before any checksummed line is added.
/// Returns the format version it upgraded from.
fn upgrade(
    layout: &Layout,
    counters: &Counters,
    index: &mut Index,
) -> Result<Option<u32>, OpenError> {
    if counters.format_version >= FORMAT_VERSION {
        return Ok(None);
    }
    index.unchecked_through = index.last_readable().unwrap_or(0);
    let path = layout.file(STREAMS_FILE);
    write_atomic(&path, &counters_json(&index.counters()))
        .map_err(OpenError::io("writing", &path))?;
    Ok((index.next.offset > 0 || counters.last_position > 0).then_some(1))
}

/// Makes the store's directory entries durable before anything builds on them: a writer killed
/// between a rename and its directory fsync (a compaction's new log, a snapshot) leaves a name
/// that this process sees but a power loss could still take back, and with it every append
/// this writer makes to that log.
fn sync_names(layout: &Layout) -> Result<(), OpenError> {
    for dir in [
        layout.dir().to_path_buf(),
        layout.file(SNAPSHOTS_DIR),
        layout.file(PROJECTIONS_DIR),
    ] {
        if dir.is_dir() {
            sync_dir(&dir).map_err(OpenError::io("syncing", &dir))?;
        }
    }
    Ok(())
}

/// Opens `head.json` and makes it durable describing the recovered log, which is synced first:
/// a relaxed writer that was killed may have left bytes only in the page cache.
fn start_head(
    layout: &Layout,
    log: &File,
    log_inode: u64,
    index: &Index,
) -> Result<HeadWriter, OpenError> {
    log.sync_data()
        .map_err(OpenError::io("syncing", layout.events()))?;
    let path = layout.file(HEAD_FILE);
    let created = !path.exists();
    let mut writer = HeadWriter::open(&path).map_err(OpenError::io("opening", &path))?;
    let head = Head {
        log_inode,
        synced_bytes: index.next.offset,
        last_position: index.last_position,
    };
    writer
        .publish(head)
        .and_then(|()| writer.sync())
        .map_err(OpenError::io("writing", &path))?;
    if created {
        sync_dir(layout.dir()).map_err(OpenError::io("syncing", layout.dir()))?;
    }
    Ok(writer)
}

fn open_read_only(layout: Layout, options: OpenOptions) -> Result<NdjsonStore, OpenError> {
    let events_path = layout.events();
    if !events_path.is_file() {
        return Err(OpenError::NotFound { path: events_path });
    }
    let index_file = inspect(&layout)?;
    let counters = counters(&layout)?;
    let read = File::open(&events_path).map_err(OpenError::io("opening", &events_path))?;
    let log_inode = inode_of(&read).map_err(OpenError::io("reading", &events_path))?;
    let head_file = read_head(&layout)?;
    let (rules, head_status) = rules_for(&counters, &head_file, log_inode, true);
    let mut built = reader_index(&layout, read, log_inode, &counters, rules)?;
    raise_to_head(&mut built.index, &head_file);
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
        head: head_status,
        upgraded_from: None,
        events: built.index.total_events(),
        scanned_lines: built.scanned_lines,
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

/// The writer's index: what the derived index on disk holds (rebuilt first if it cannot be
/// trusted for this log), then a scan of the log after its watermark, moving the tail to disk
/// as it grows. Without a usable `index.sqlite` (it cannot be opened or created), the whole
/// index is built in memory and the store works as before it had one.
fn writer_index(
    layout: &Layout,
    read: File,
    log_inode: u64,
    counters: &Counters,
    rules: Rules,
    every: usize,
) -> Result<(Built, Option<WriterDisk>), OpenError> {
    let path = layout.file(DISK_INDEX_FILE);
    let opened = DiskIndex::open_writer(&path, &read, log_inode).or_else(|_| {
        // Not a database, or not one SQLite can use: it is derived, so start it over.
        remove_disk_index(&path);
        DiskIndex::open_writer(&path, &read, log_inode)
    });
    let Ok((connection, disk, loaded)) = opened else {
        let built = build_index(
            layout,
            build(Arc::new(read), counters, rules, IdHasher::random()),
        )?;
        return Ok((built, None));
    };
    let disk = Arc::new(disk);
    let index = Index::on_disk(Arc::new(read), counters, Arc::clone(&disk), &loaded)
        .map_err(|reason| counters_damaged(layout, reason))?;
    let mut writer_disk = Some(WriterDisk::start(
        &path,
        connection,
        disk,
        loaded.mark,
        every,
    ));
    let built = build_from(index, rules, |index| {
        move_tail(&mut writer_disk, index, every);
    });
    Ok((build_index(layout, built)?, writer_disk))
}

/// Removes a derived index SQLite cannot open, with its rollback journal.
fn remove_disk_index(path: &Path) {
    for file in [path.to_path_buf(), crate::disk::journal_of(path)] {
        // A file that cannot be removed makes the reopen fail, and the store keeps its whole
        // index in memory.
        let _ = std::fs::remove_file(file);
    }
}

/// A reader's index: from the derived index if it can be trusted up to the synced length, and
/// a scan of the log after its watermark; otherwise from a scan of the whole log.
pub(crate) fn reader_index(
    layout: &Layout,
    read: File,
    log_inode: u64,
    counters: &Counters,
    rules: Rules,
) -> Result<Built, OpenError> {
    let path = layout.file(DISK_INDEX_FILE);
    let found = DiskIndex::open_read_only(&path, &read, log_inode, rules.limit);
    let built = match found {
        Ok(Some((disk, loaded))) => {
            let index = Index::on_disk(Arc::new(read), counters, Arc::new(disk), &loaded)
                .map_err(|reason| counters_damaged(layout, reason))?;
            build_from(index, rules, |_| {})
        }
        // Unreadable or untrusted: it is derived data, and the log has everything.
        Ok(None) | Err(_) => build(Arc::new(read), counters, rules, IdHasher::random()),
    };
    build_index(layout, built)
}

fn counters_damaged(layout: &Layout, reason: String) -> OpenError {
    OpenError::Corrupted {
        path: layout.file(STREAMS_FILE),
        line: 1,
        offset: 0,
        reason,
    }
}

/// Names the file behind a failed build.
fn build_index(layout: &Layout, built: Result<Built, BuildError>) -> Result<Built, OpenError> {
    built.map_err(|error| match error {
        BuildError::Counters(reason) => counters_damaged(layout, reason),
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
