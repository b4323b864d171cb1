//! The WAL a writer finds at its open, written back in place and synced before the writer
//! builds on it.
//!
//! A writer whose WAL fsync failed (its commit failed and it was poisoned) leaves the frames
//! of that commit in the page cache: Linux marks pages clean after a failed writeback, so every
//! later read sees them, but no later fsync writes them, and one in another process reports
//! success. The next writer's SQLite recovery reads them there, commit frame and checksums
//! intact, and takes the commit as done; its open's WAL copy writes their pages into the
//! database file and syncs that. A power loss then leaves a WAL that ends before those frames,
//! and SQLite copies the frames it does hold, older versions of the same pages, over the newer
//! file: a table and its index from different commits. Writing every byte of the WAL back makes
//! the pages dirty again, so the fsync after it puts on the disk the WAL the open reads.
//!
//! Invariant: a writer commits nothing, and copies no WAL page into the database file, before
//! the WAL it found is on the disk as it read it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::check::wal_path;
use crate::error::OpenError;

/// Bytes read and written back at a time.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Writes the WAL beside `path`, if there is one, back in place and fsyncs it.
pub(crate) fn write_back(path: &Path) -> Result<(), OpenError> {
    let wal = wal_path(path);
    let io = |context, source| OpenError::Io {
        context,
        path: wal.clone(),
        source,
    };
    let file = match File::options().read(true).write(true).open(&wal) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io("opening for writing back the WAL", source)),
    };
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let mut offset = 0u64;
    loop {
        let read = file
            .read_at(&mut chunk, offset)
            .map_err(|source| io("reading for writing back the WAL", source))?;
        if read == 0 {
            break;
        }
        file.write_all_at(&chunk[..read], offset)
            .map_err(|source| io("writing back the WAL", source))?;
        offset += read as u64;
    }
    file.sync_all()
        .map_err(|source| io("syncing the written-back WAL", source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_keeps_its_bytes_and_a_missing_wal_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        write_back(&path).unwrap();
        assert!(!wal_path(&path).exists(), "no WAL is made up");
        let bytes: Vec<u8> = (0..CHUNK_BYTES * 2 + 77).map(|i| (i % 251) as u8).collect();
        std::fs::write(wal_path(&path), &bytes).unwrap();
        write_back(&path).unwrap();
        assert_eq!(std::fs::read(wal_path(&path)).unwrap(), bytes);
    }
}
