//! Reading the shim's journal: the changes a process made to the store's files, in the order
//! they took effect (the record layout is specified at the top of `faults/shim.c`).
//!
//! Invariant: a record cut short at the end of the file (the process was killed while the shim
//! wrote it) is dropped: the call it describes had not returned, so no caller relied on it.

use std::path::{Path, PathBuf};

/// A file's identity while it exists: device and inode numbers.
pub(crate) type FileKey = (u64, u64);

/// One change to the store's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// `path` was created as a new file.
    Create { path: PathBuf, file: FileKey },
    /// `path`, an existing file, was opened for writing.
    Open { path: PathBuf, file: FileKey },
    /// `bytes` were written at `offset`.
    Write {
        file: FileKey,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The file was cut or extended to `len` bytes.
    Truncate { file: FileKey, len: u64 },
    /// An fsync or fdatasync of the file completed.
    SyncFile { file: FileKey },
    /// An fsync or fdatasync of the file failed: what was written since the last completed
    /// one never reaches the disk, though the process still reads it.
    FailedSync { file: FileKey },
    /// An fsync of the directory `path` completed.
    SyncDir { path: PathBuf },
    /// `from` was renamed to `to`.
    Rename { from: PathBuf, to: PathBuf },
    /// `path` was removed.
    Unlink { path: PathBuf },
}

const HEADER_LEN: usize = 41;

/// The length of the whole records at the start of `bytes`: a process killed while the shim
/// wrote a record leaves part of it at the end.
pub(crate) fn whole_len(bytes: &[u8]) -> usize {
    let mut at = 0;
    while bytes.len() - at >= HEADER_LEN {
        let header = &bytes[at..at + HEADER_LEN];
        let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().unwrap());
        let u32_at = |i: usize| u64::from(u32::from_le_bytes(header[i..i + 4].try_into().unwrap()));
        let body = u32_at(25) + u32_at(29) + u64_at(33);
        let end = (at as u64)
            .saturating_add(HEADER_LEN as u64)
            .saturating_add(body);
        if end > bytes.len() as u64 {
            break;
        }
        at = end as usize;
    }
    at
}

/// Cuts a record a killed process left half-written off the end of the journal at `path`, so
/// the next process's records follow whole ones. The write it described is not in the journal:
/// a power loss may drop an unsynced write anyway.
pub(crate) fn drop_partial_record(path: &Path) -> std::io::Result<()> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    let whole = whole_len(&bytes);
    if whole < bytes.len() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(whole as u64)?;
    }
    Ok(())
}

/// Decodes every whole record of `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEADER_LEN {
        let header = &bytes[at..at + HEADER_LEN];
        let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().unwrap());
        let u32_at = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().unwrap()) as usize;
        let (kind, file, arg) = (header[0], (u64_at(1), u64_at(9)), u64_at(17));
        let (path_len, path2_len, data_len) = (u32_at(25), u32_at(29), u64_at(33) as usize);
        let body = at + HEADER_LEN;
        let end = body + path_len + path2_len + data_len;
        if end > bytes.len() {
            break;
        }
        let path = path_of(&bytes[body..body + path_len]);
        let path2 = path_of(&bytes[body + path_len..body + path_len + path2_len]);
        let data = bytes[body + path_len + path2_len..end].to_vec();
        records.push(match kind {
            b'C' => Record::Create { path, file },
            b'O' => Record::Open { path, file },
            b'W' => Record::Write {
                file,
                offset: arg,
                bytes: data,
            },
            b'T' => Record::Truncate { file, len: arg },
            b'S' => Record::SyncFile { file },
            b'F' => Record::FailedSync { file },
            b'D' => Record::SyncDir { path },
            b'R' => Record::Rename {
                from: path,
                to: path2,
            },
            b'U' => Record::Unlink { path },
            other => {
                return Err(format!(
                    "journal record of unknown kind {other} at byte {at}"
                ));
            }
        });
        at = end;
    }
    Ok(records)
}

fn path_of(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Encodes one record as the shim does (for the tests of this module and of the power model).
#[cfg(test)]
pub(crate) fn encode(
    kind: u8,
    file: FileKey,
    arg: u64,
    path: &str,
    path2: &str,
    data: &[u8],
) -> Vec<u8> {
    let mut bytes = vec![kind];
    for value in [file.0, file.1, arg] {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes.extend_from_slice(&(path.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(path2.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(data.len() as u64).to_le_bytes());
    bytes.extend_from_slice(path.as_bytes());
    bytes.extend_from_slice(path2.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    use encode as record;

    #[test]
    fn a_record_cut_by_a_kill_is_dropped_before_the_next_process_appends() {
        let path = std::env::temp_dir().join(format!("annal-journal-{}", std::process::id()));
        let mut first = record(b'W', (1, 2), 0, "", "", b"abc");
        first.extend(record(b'W', (1, 2), 3, "", "", b"defgh"));
        std::fs::write(&path, &first[..first.len() - 2]).unwrap();
        drop_partial_record(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(record(b'S', (1, 2), 0, "", "", b""));
        std::fs::remove_file(&path).unwrap();
        let records = parse(&bytes).unwrap();
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(matches!(records[1], Record::SyncFile { file: (1, 2) }));
    }

    #[test]
    fn decodes_records_and_drops_a_cut_last_one() {
        let mut bytes = record(b'C', (1, 2), 0, "/s/a", "", b"");
        bytes.extend(record(b'W', (1, 2), 7, "", "", b"xyz"));
        bytes.extend(record(b'R', (0, 0), 0, "/s/a", "/s/b", b""));
        let whole = bytes.len();
        bytes.extend(record(b'S', (1, 2), 0, "", "", b""));
        let records = parse(&bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(
            records[1],
            Record::Write {
                file: (1, 2),
                offset: 7,
                bytes: b"xyz".to_vec()
            }
        );
        assert_eq!(
            records[2],
            Record::Rename {
                from: "/s/a".into(),
                to: "/s/b".into()
            }
        );
        assert_eq!(parse(&bytes).unwrap().len(), 4);
        assert_eq!(parse(&bytes[..whole]).unwrap().len(), 3);
        assert!(parse(&record(b'?', (0, 0), 0, "", "", b"")).is_err());
    }
}
