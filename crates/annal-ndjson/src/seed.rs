//! Reading a seed ledger directory (the guidance run ledger's `events.ndjson`, `index.json` and
//! `.lock`) read-only, so the CLI can import it.
//!
//! The seed's own reader skipped every line that failed to parse, without a word (its defect
//! 21). Here every line is accounted for: [`SeedLedger`] yields each RunEvent JSON value with
//! its line number and byte offset, and each bad line as [`SeedLine::Bad`], marked `torn` when
//! it is the unterminated last line a crash mid-append leaves. Blank lines are skipped, as the
//! seed did. Nothing in the directory is modified: the seed's `.lock` (a check-then-write lock
//! with a timestamp and pid) is read for the report and never honoured or removed, and its
//! `index.json` is returned as found, untrusted (the seed's counts in it were often wrong).
//!
//! Invariant: memory stays bounded by one line, and a line longer than the scanner's limit is
//! reported as bad instead of buffered.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::scan::LINE_BYTES_MAX;

/// Errors from [`read_seed_ledger`] and the iteration of a [`SeedLedger`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The directory does not exist.
    #[error("{path} does not exist")]
    NotFound {
        /// The missing directory.
        path: PathBuf,
    },
    /// Reading a file failed.
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

/// One non-blank line of a seed ledger's `events.ndjson`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SeedLine {
    /// A JSON object: a RunEvent as the seed wrote it.
    Event {
        /// The line number, from 1.
        line: u64,
        /// The byte offset of the line's start.
        offset: u64,
        /// The decoded object.
        value: Value,
    },
    /// A line that is not a JSON object.
    Bad {
        /// The line number, from 1.
        line: u64,
        /// The byte offset of the line's start.
        offset: u64,
        /// Whether it is the unterminated last line: a crash in the middle of an append.
        torn: bool,
        /// Why it was refused.
        reason: String,
    },
}

/// A seed ledger directory, read line by line; iterate it for the lines.
#[derive(Debug)]
pub struct SeedLedger {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    offset: u64,
    line: u64,
    buf: Vec<u8>,
    index: Option<Value>,
    lock: Option<String>,
}

/// Opens the seed ledger in `dir` for reading. A missing `events.ndjson` reads as empty, as in
/// the seed.
pub fn read_seed_ledger(dir: impl AsRef<Path>) -> Result<SeedLedger, SeedError> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(SeedError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let path = dir.join("events.ndjson");
    let reader = match File::open(&path) {
        Ok(file) => Some(BufReader::with_capacity(1024 * 1024, file)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(SeedError::Io {
                context: "opening",
                path,
                source,
            });
        }
    };
    let index = std::fs::read(dir.join("index.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let lock = std::fs::read_to_string(dir.join(".lock")).ok();
    Ok(SeedLedger {
        path,
        reader,
        offset: 0,
        line: 0,
        buf: Vec::new(),
        index,
        lock,
    })
}

impl SeedLedger {
    /// The seed's `index.json`, if it decoded. Informational only: the lines are the truth.
    pub fn index(&self) -> Option<&Value> {
        self.index.as_ref()
    }

    /// The content of the seed's `.lock`, if one was left behind (it is never honoured).
    pub fn lock_file(&self) -> Option<&str> {
        self.lock.as_deref()
    }

    /// The `events.ndjson` being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next raw line into `buf`; returns its offset and whether it ended with `\n`,
    /// or `None` at the end. An over-long line is skipped to its end and returned empty.
    fn next_raw(&mut self) -> std::io::Result<Option<(u64, bool, bool)>> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        self.buf.clear();
        let offset = self.offset;
        let mut too_long = false;
        loop {
            let available = reader.fill_buf()?;
            if available.is_empty() {
                break;
            }
            let (taken, done) = match available.iter().position(|b| *b == b'\n') {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            if self.buf.len() + taken <= LINE_BYTES_MAX {
                self.buf.extend_from_slice(&available[..taken]);
            } else {
                too_long = true;
            }
            reader.consume(taken);
            self.offset += taken as u64;
            if done {
                break;
            }
        }
        if self.offset == offset {
            return Ok(None);
        }
        self.line += 1;
        let complete = self.buf.last() == Some(&b'\n') || too_long;
        Ok(Some((offset, complete, too_long)))
    }
}

impl Iterator for SeedLedger {
    type Item = Result<SeedLine, SeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (offset, complete, too_long) = match self.next_raw() {
                Ok(Some(read)) => read,
                Ok(None) => return None,
                Err(source) => {
                    self.reader = None;
                    return Some(Err(SeedError::Io {
                        context: "reading",
                        path: self.path.clone(),
                        source,
                    }));
                }
            };
            let line = self.line;
            if too_long {
                return Some(Ok(SeedLine::Bad {
                    line,
                    offset,
                    torn: false,
                    reason: format!("the line is longer than {LINE_BYTES_MAX} bytes"),
                }));
            }
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let bad = |reason: String| SeedLine::Bad {
                line,
                offset,
                torn: !complete,
                reason,
            };
            return Some(Ok(match serde_json::from_slice::<Value>(text) {
                Ok(value) if value.is_object() => SeedLine::Event {
                    line,
                    offset,
                    value,
                },
                Ok(_) => bad("the line is JSON but not an object".into()),
                Err(error) => bad(error.to_string()),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_accounted_for() {
        let dir = tempfile::tempdir().unwrap();
        let lines = "{\"eventId\":\"a\",\"taskId\":\"t\"}\n\n{\"eventId\":\"b\",\"ta{\"eventId\":\"c\"}\n[1]\n{\"eventId\":\"d\"}\n{\"eventId\":\"e\",\"ta";
        std::fs::write(dir.path().join("events.ndjson"), lines).unwrap();
        std::fs::write(dir.path().join("index.json"), "{\"eventCount\": 2}").unwrap();
        std::fs::write(dir.path().join(".lock"), "{\"holder\":\"x\",\"pid\":1}").unwrap();
        let ledger = read_seed_ledger(dir.path()).unwrap();
        assert_eq!(ledger.index().unwrap()["eventCount"], 2);
        assert!(ledger.lock_file().unwrap().contains("holder"));
        let got: Vec<SeedLine> = ledger.map(Result::unwrap).collect();
        let summary: Vec<(u64, &str, bool)> = got
            .iter()
            .map(|line| match line {
                SeedLine::Event { line, .. } => (*line, "event", false),
                SeedLine::Bad { line, torn, .. } => (*line, "bad", *torn),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, "event", false),
                (3, "bad", false),
                (4, "bad", false),
                (5, "event", false),
                (6, "bad", true),
            ]
        );
        let SeedLine::Event { offset, value, .. } = &got[3] else {
            panic!("line 5 is an event");
        };
        assert_eq!(value["eventId"], "d");
        assert_eq!(*offset, lines.find("{\"eventId\":\"d\"").unwrap() as u64);
        // The directory is untouched.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("events.ndjson")).unwrap(),
            lines
        );
    }

    #[test]
    fn missing_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            read_seed_ledger(&missing),
            Err(SeedError::NotFound { .. })
        ));
        let empty = read_seed_ledger(dir.path()).unwrap();
        assert_eq!(empty.count(), 0);
    }
}
