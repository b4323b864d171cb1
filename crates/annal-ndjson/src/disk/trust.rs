//! Whether an open may use the derived index it found: only if it describes this log file up
//! to a watermark inside the part of the log the open trusts, and the line just before the
//! watermark is the one the index says. Anything else (a log replaced or cut behind the index's
//! back, an index restored from elsewhere, a watermark past a power loss) makes a writer rebuild
//! it and a reader ignore it.

use std::fs::File;
use std::os::unix::fs::FileExt;

use rusqlite::Connection;

use super::Loaded;
use super::lookup::last_entry;
use crate::line::{check_sum, header};

/// Whether `loaded`, read through `connection`, describes the log `file` (inode `log_inode`)
/// up to a watermark no further than `limit` (a reader's synced length).
pub(crate) fn trusted(
    connection: &Connection,
    loaded: &Loaded,
    file: &File,
    log_inode: u64,
    limit: Option<u64>,
) -> bool {
    let mark = loaded.mark;
    let Ok(metadata) = file.metadata() else {
        return false;
    };
    if loaded.log_inode != Some(log_inode)
        || mark.offset > metadata.len()
        || limit.is_some_and(|limit| mark.offset > limit)
    {
        return false;
    }
    if mark.offset == 0 {
        return mark.position == 0 || loaded.totals.events == 0;
    }
    let Ok(Some(entry)) = last_entry(connection) else {
        // Every event of the watermark's log was removed: nothing on disk to check against.
        return loaded.totals.events == 0;
    };
    if entry.position != mark.position || entry.offset + u64::from(entry.len) + 1 != mark.offset {
        return false;
    }
    let mut bytes = vec![0; entry.len as usize + 1];
    if file.read_exact_at(&mut bytes, entry.offset).is_err() || bytes.last() != Some(&b'\n') {
        return false;
    }
    let text = &bytes[..entry.len as usize];
    check_sum(text).is_ok() && header(text).is_ok_and(|h| h.position == mark.position)
}
