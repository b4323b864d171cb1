//! Telling the import formats apart when `--format` is absent: a directory holding
//! `events.ndjson` is a seed ledger, a file starting with SQLite's header is a seed database,
//! anything else is read as NDJSON.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

use crate::args::ImportFormat;

/// The first 16 bytes of every SQLite 3 database file.
pub(crate) const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The format of `path`, from its kind and first bytes.
pub(crate) fn detect(path: &Path) -> anyhow::Result<ImportFormat> {
    if path.is_dir() {
        if path.join("events.ndjson").is_file() {
            return Ok(ImportFormat::SeedLedger);
        }
        bail!(
            "{} is a directory without events.ndjson, so it is not a seed ledger",
            path.display()
        );
    }
    if starts_with_sqlite_header(path)? {
        Ok(ImportFormat::SeedSqlite)
    } else {
        Ok(ImportFormat::Ndjson)
    }
}

/// Whether `path` begins with [`SQLITE_HEADER`].
pub(crate) fn starts_with_sqlite_header(path: &Path) -> anyhow::Result<bool> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut header = Vec::with_capacity(SQLITE_HEADER.len());
    file.take(SQLITE_HEADER.len() as u64)
        .read_to_end(&mut header)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(header == SQLITE_HEADER)
}

#[cfg(test)]
mod tests {
    // Test code: a failed set-up step should fail the test at once.
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[track_caller]
    fn check(dir: &tempfile::TempDir, name: &str, bytes: &[u8], expected: ImportFormat) {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(detect(&path).unwrap(), expected, "{name}");
    }

    #[test]
    fn formats_are_told_apart_by_kind_and_header() {
        let dir = tempfile::tempdir().unwrap();
        check(
            &dir,
            "db",
            b"SQLite format 3\0rest",
            ImportFormat::SeedSqlite,
        );
        check(&dir, "short", b"SQLite", ImportFormat::Ndjson);
        check(&dir, "near", b"SQLite format 3 x", ImportFormat::Ndjson);
        check(&dir, "lines", b"{\"id\":\"a\"}\n", ImportFormat::Ndjson);
        let ledger = dir.path().join("ledger");
        std::fs::create_dir(&ledger).unwrap();
        assert!(
            detect(&ledger).is_err(),
            "a directory without events.ndjson"
        );
        std::fs::write(ledger.join("events.ndjson"), b"").unwrap();
        assert_eq!(detect(&ledger).unwrap(), ImportFormat::SeedLedger);
    }
}
