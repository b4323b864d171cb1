//! `head.json`: how far the log is known to be synced, published by the writer after each
//! fsync for readers in other processes, and made durable for recovery.
//!
//! It names the log file it describes by inode (a compaction renames a new log into place), the
//! log's synced length and the last position in it. The writer overwrites it in place after
//! every group's fsync (no fsync of its own: readers in other processes see the page cache),
//! and fsyncs it when it opens the store, every few seconds while appends go on, after a
//! compaction and when it closes. Its content is one JSON object padded with spaces to
//! [`HEAD_BYTES`], ending with a CRC-32C of the text before it, like a log line.
//!
//! Invariant: `syncedBytes` never exceeds what was fsynced in the file it names, so a value that
//! reached the disk is a lower bound of the acknowledged log: bytes before it were acknowledged
//! and cannot be a torn write, and a reader that stops there never sees an append that a failed
//! fsync or a power loss could take back (a position that could be reused).

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use serde::Deserialize;

use crate::line::{Sum, check_sum};
use crate::sidecar::FORMAT_VERSION;

/// The file's length: room for the largest values, padded so every write is one whole record.
pub(crate) const HEAD_BYTES: usize = 160;

/// What `head.json` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// The inode of the log file it describes.
    pub(crate) log_inode: u64,
    /// How many bytes of that file are synced (the end of a whole batch).
    pub(crate) synced_bytes: u64,
    /// The last position in those bytes (or remembered past removals).
    pub(crate) last_position: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeadJson {
    log_inode: u64,
    synced_bytes: u64,
    last_position: u64,
}

/// What `head.json` held when it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeadFile {
    Missing,
    Damaged(String),
    Valid(Head),
}

impl HeadFile {
    /// The head, if it describes the log file with inode `log_inode`.
    pub(crate) fn synced_in(&self, log_inode: u64) -> Option<Head> {
        match self {
            HeadFile::Valid(head) if head.log_inode == log_inode => Some(*head),
            _ => None,
        }
    }
}

/// The inode of an open log file.
pub(crate) fn inode_of(file: &File) -> std::io::Result<u64> {
    Ok(file.metadata()?.ino())
}

/// Encodes `head` as the file's whole content.
pub(crate) fn encode(head: &Head) -> Vec<u8> {
    let body = format!(
        "{{\"formatVersion\":{FORMAT_VERSION},\"logInode\":{},\"syncedBytes\":{},\
         \"lastPosition\":{}",
        head.log_inode, head.synced_bytes, head.last_position
    );
    let sum = crc32c::crc32c(body.as_bytes());
    let mut out = format!("{body},\"crc32c\":\"{sum:08x}\"}}").into_bytes();
    assert!(out.len() < HEAD_BYTES, "a head record fits its file");
    out.resize(HEAD_BYTES - 1, b' ');
    out.push(b'\n');
    out
}

/// Decodes the file's content.
pub(crate) fn decode(bytes: &[u8]) -> Result<Head, String> {
    let text = bytes.trim_ascii_end();
    match check_sum(text)? {
        Sum::Valid => {}
        Sum::Absent => return Err("it has no checksum".into()),
    }
    let json: HeadJson = serde_json::from_slice(text).map_err(|error| error.to_string())?;
    Ok(Head {
        log_inode: json.log_inode,
        synced_bytes: json.synced_bytes,
        last_position: json.last_position,
    })
}

/// Reads `head.json` at `path`.
pub(crate) fn read(path: &Path) -> std::io::Result<HeadFile> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(HeadFile::Missing),
        Err(error) => return Err(error),
    };
    read_from(&file)
}

/// Reads `head.json` like [`read`], trying again a few times while it does not decode: a
/// read can meet the writer's overwrite half done. A head still damaged after that was damaged
/// on disk (a write cut by power loss), and no writer is rewriting it.
pub(crate) fn read_settled(path: &Path) -> std::io::Result<HeadFile> {
    let mut found = read(path)?;
    for _ in 0..READ_TRIES {
        if !matches!(found, HeadFile::Damaged(_)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        found = read(path)?;
    }
    Ok(found)
}

/// How many times [`read_settled`] reads a damaged head again.
const READ_TRIES: usize = 5;

/// Reads the head from an open `head.json`.
pub(crate) fn read_from(file: &File) -> std::io::Result<HeadFile> {
    let mut bytes = vec![0; HEAD_BYTES];
    let mut filled = 0;
    while filled < bytes.len() {
        let n = file.read_at(&mut bytes[filled..], filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    bytes.truncate(filled);
    Ok(match decode(&bytes) {
        Ok(head) => HeadFile::Valid(head),
        Err(reason) => HeadFile::Damaged(reason),
    })
}

/// The writer's handle on `head.json`.
#[derive(Debug)]
pub(crate) struct HeadWriter {
    file: File,
    last: Option<Head>,
}

impl HeadWriter {
    /// Opens (creating) `head.json` for overwriting in place.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Self { file, last: None })
    }

    /// Publishes `head` to readers (page cache only; see [`HeadWriter::sync`]).
    pub(crate) fn publish(&mut self, head: Head) -> std::io::Result<()> {
        if let Some(last) = self.last
            && last.log_inode == head.log_inode
        {
            assert!(
                head.synced_bytes >= last.synced_bytes,
                "the synced length of one log file never goes back"
            );
        }
        self.file.write_all_at(&encode(&head), 0)?;
        self.last = Some(head);
        Ok(())
    }

    /// Makes the last published head durable.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips_and_damage_is_found() {
        let head = Head {
            log_inode: u64::MAX,
            synced_bytes: u64::MAX,
            last_position: u64::MAX,
        };
        let bytes = encode(&head);
        assert_eq!(bytes.len(), HEAD_BYTES);
        assert_eq!(decode(&bytes), Ok(head));
        let mut damaged = bytes.clone();
        damaged[40] ^= 0x01;
        assert!(decode(&damaged).is_err());
        assert!(decode(b"").is_err());
        assert_eq!(HeadFile::Valid(head).synced_in(1), None);
    }
}
