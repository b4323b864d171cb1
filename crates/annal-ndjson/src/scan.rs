//! Reading the log forward, batch by batch: what opening, following and compacting share.
//!
//! The scanner hands over only whole batches (as many consecutive lines as their `batchSize`
//! says, same stream, consecutive versions and positions, positions increasing through the
//! file). Where it stops it says why:
//!
//! - a **torn tail**: the last line has no `\n`, or the last batch is incomplete, or a bad line
//!   is followed by nothing that decodes, all after the log's known synced length. This is a
//!   crash in the middle of an append, which was never acknowledged (acknowledgment waits for
//!   the fsync), so the tail can be cut off;
//! - **corruption**: a bad line followed by a good one, or any problem before the known synced
//!   length (`head.json`), or a log that ends before it. Damage inside acknowledged data is
//!   never cut off silently: the caller reports it with the line number and byte offset.
//!
//! A bad line is one that does not decode, breaks framing or ordering, fails its checksum, or
//! has no checksum at a position after the format upgrade ([`Rules::unchecked_through`]).
//!
//! Invariant: a line longer than [`LINE_BYTES_MAX`] is a bad line, so a damaged file without
//! newlines never makes the scanner buffer unbounded memory.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;

use crate::line::{Sum, check_sum, header};

/// The longest line (with its `\n`) the scanner accepts: the default payload and metadata
/// limits with a wide margin for the envelope and JSON escapes, which can grow a payload's text
/// sixfold. It is part of the format, not of the options: the writer refuses an event whose line
/// would be longer, whatever payload limit it was opened with, so every stored line reads back.
pub(crate) const LINE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Read buffer of a sequential scan.
const SCAN_BUFFER_BYTES: usize = 1024 * 1024;

/// What a scan knows beyond the lines themselves.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rules {
    /// Lines at positions up to this one may lack a checksum: format version 1 wrote them.
    pub(crate) unchecked_through: u64,
    /// The log is known synced up to this offset: a problem before it is damage, not a torn
    /// write, and the log must be at least this long.
    pub(crate) synced: u64,
    /// Read nothing at or past this offset (a reader trusts only synced bytes); `None`: read to
    /// the end of the file.
    pub(crate) limit: Option<u64>,
}

/// What the index needs of one line.
#[derive(Clone, Debug, Default)]
pub(crate) struct LineInfo {
    pub(crate) id: String,
    pub(crate) stream: String,
    pub(crate) event_type: String,
    pub(crate) aggregate_type: String,
    pub(crate) version: u64,
    pub(crate) position: u64,
    pub(crate) timestamp: i64,
    pub(crate) source: String,
    pub(crate) causation_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
    /// Byte offset of the line's first byte.
    pub(crate) offset: u64,
    /// Its length without the `\n`.
    pub(crate) len: u32,
}

/// Where a scan starts: at the start of a line after whole batches.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Start {
    pub(crate) offset: u64,
    /// Lines before `offset`.
    pub(crate) line: u64,
    /// The position of the last line before `offset` (0 at the start).
    pub(crate) last_position: u64,
}

/// Why a scan stopped before the end of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The bytes from `offset` to the end are an unfinished append.
    Torn {
        offset: u64,
        bytes: u64,
        reason: String,
    },
    /// Line `line` (from 1), at byte `offset`, is damaged and good lines follow it.
    Corrupt {
        line: u64,
        offset: u64,
        reason: String,
    },
}

/// Where a scan ended.
#[derive(Clone, Debug)]
pub(crate) struct End {
    /// Just after the last whole batch: where the next scan (or append) starts.
    pub(crate) next: Start,
    pub(crate) problem: Option<Problem>,
}

/// Reads `file` from `start`, calling `on_batch` with every whole batch in file order. An
/// `Err` from `on_batch` (the index found the batch inconsistent) stops the scan as corruption
/// at the batch's first line.
pub(crate) fn scan(
    file: &File,
    start: Start,
    rules: Rules,
    on_batch: impl FnMut(&[LineInfo]) -> Result<(), String>,
) -> std::io::Result<End> {
    let end = scan_lines(file, start, rules, on_batch)?;
    Ok(classify(end, rules))
}

/// Applies the synced length: a torn tail before it is damage, and so is a log that ends
/// before it.
fn classify(mut end: End, rules: Rules) -> End {
    let synced_note = |offset: u64| {
        format!(
            "the log was synced to byte {}, so the bytes at {offset} were acknowledged: this is \
             damage, not a torn write",
            rules.synced
        )
    };
    match &end.problem {
        Some(Problem::Torn { offset, reason, .. }) if *offset < rules.synced => {
            end.problem = Some(Problem::Corrupt {
                line: end.next.line + 1,
                offset: *offset,
                reason: format!("{reason}; {}", synced_note(*offset)),
            });
        }
        None if end.next.offset < rules.synced => {
            end.problem = Some(Problem::Corrupt {
                line: end.next.line + 1,
                offset: end.next.offset,
                reason: format!(
                    "the log ends at byte {} but was synced to byte {}: acknowledged events are \
                     missing",
                    end.next.offset, rules.synced
                ),
            });
        }
        _ => {}
    }
    end
}

fn scan_lines(
    file: &File,
    start: Start,
    rules: Rules,
    mut on_batch: impl FnMut(&[LineInfo]) -> Result<(), String>,
) -> std::io::Result<End> {
    let source = ReadAt {
        file,
        offset: start.offset,
        limit: rules.limit.unwrap_or(u64::MAX),
    };
    let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, source);
    let mut lines = Lines {
        offset: start.offset,
        line: start.line,
        buf: Vec::new(),
    };
    let mut next = start;
    let mut batch: Vec<LineInfo> = Vec::new();
    let mut batch_size = 0u64;
    while let Some(read) = lines.next(&mut reader)? {
        if !read.complete {
            return Ok(torn(next, lines.offset, "the last line has no newline"));
        }
        let checked = check_line(
            &lines.buf,
            &batch,
            batch_size,
            next.last_position,
            read.offset,
        )
        .and_then(|checked| {
            let text = &lines.buf[..lines.buf.len() - 1];
            check_line_sum(text, checked.0.position, rules)?;
            Ok(checked)
        });
        let info = match checked {
            Ok(info) => info,
            Err(reason) => return bad_line(&mut reader, &mut lines, next, &read, reason),
        };
        if batch.is_empty() {
            batch_size = info.1;
        }
        batch.push(info.0);
        if batch.len() as u64 == batch_size {
            let last_position = batch.last().map_or(next.last_position, |l| l.position);
            if let Err(reason) = on_batch(&batch) {
                let problem = Problem::Corrupt {
                    line: next.line + 1,
                    offset: next.offset,
                    reason,
                };
                return Ok(End {
                    next,
                    problem: Some(problem),
                });
            }
            batch.clear();
            next = Start {
                offset: lines.offset,
                line: read.line,
                last_position,
            };
        }
    }
    if batch.is_empty() {
        return Ok(End {
            next,
            problem: None,
        });
    }
    Ok(torn(next, lines.offset, "the last batch is incomplete"))
}

/// Where a scan stops at a bad line: corruption if a good line follows it, else a torn tail.
fn bad_line(
    reader: &mut impl BufRead,
    lines: &mut Lines,
    next: Start,
    read: &Read1,
    reason: String,
) -> std::io::Result<End> {
    if good_line_follows(reader, lines)? {
        let problem = Problem::Corrupt {
            line: read.line,
            offset: read.offset,
            reason,
        };
        return Ok(End {
            next,
            problem: Some(problem),
        });
    }
    let reason = format!("the last line does not decode: {reason}");
    Ok(torn(next, lines.offset, &reason))
}

/// A torn tail from the end of the last whole batch: the unfinished batch's earlier lines
/// were never handed over, so they go with the torn line.
fn torn(next: Start, file_end: u64, reason: &str) -> End {
    End {
        next,
        problem: Some(Problem::Torn {
            offset: next.offset,
            bytes: file_end - next.offset,
            reason: reason.to_owned(),
        }),
    }
}

/// Checks one complete line against the batch it continues; returns what the index needs and
/// the line's batch size.
fn check_line(
    buf: &[u8],
    batch: &[LineInfo],
    batch_size: u64,
    last_position: u64,
    offset: u64,
) -> Result<(LineInfo, u64), String> {
    let text = &buf[..buf.len() - 1];
    let header = header(text)?;
    match batch.last() {
        None if header.position <= last_position => {
            return Err(format!(
                "position {} does not follow position {last_position}",
                header.position
            ));
        }
        None => {}
        Some(previous) => {
            // Checked: the previous line's numbers came from disk and may be at their end.
            let continues = header.aggregate_id == previous.stream.as_str()
                && previous.position.checked_add(1) == Some(header.position)
                && previous.version.checked_add(1) == Some(header.version)
                && header.batch_size == batch_size;
            if !continues {
                return Err(format!(
                    "position {} does not continue the batch of {batch_size} that started at \
                     position {}",
                    header.position, batch[0].position
                ));
            }
        }
    }
    let len = u32::try_from(text.len()).map_err(|_| "the line is too long".to_owned())?;
    let info = LineInfo {
        id: header.id.into_owned(),
        stream: header.aggregate_id.into_owned(),
        event_type: header.event_type.into_owned(),
        aggregate_type: header.aggregate_type.into_owned(),
        version: header.version,
        position: header.position,
        timestamp: header.timestamp,
        source: header.source.into_owned(),
        causation_id: header.causation_id.map(Cow::into_owned),
        correlation_id: header.correlation_id.map(Cow::into_owned),
        offset,
        len,
    };
    Ok((info, header.batch_size))
}

/// Checks a line's checksum, or that it may lack one (format version 1 wrote it).
fn check_line_sum(text: &[u8], position: u64, rules: Rules) -> Result<(), String> {
    match check_sum(text)? {
        Sum::Valid => Ok(()),
        Sum::Absent if position <= rules.unchecked_through => Ok(()),
        Sum::Absent => Err(format!(
            "the line has no checksum, which every line after position {} carries",
            rules.unchecked_through
        )),
    }
}

/// Whether any complete line after the current one decodes (reads to the end of the file).
fn good_line_follows(reader: &mut impl BufRead, lines: &mut Lines) -> std::io::Result<bool> {
    while let Some(read) = lines.next(reader)? {
        let text = &lines.buf[..lines.buf.len().saturating_sub(1)];
        if read.complete && header(text).is_ok() && check_sum(text).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One line as read: where it starts, its number, whether it ends with `\n`.
struct Read1 {
    offset: u64,
    line: u64,
    complete: bool,
}

/// A line splitter that tracks offsets and caps line length.
struct Lines {
    /// Offset of the next unread byte.
    offset: u64,
    /// Lines read so far.
    line: u64,
    /// The current line, with its `\n` if it has one.
    buf: Vec<u8>,
}

impl Lines {
    fn next(&mut self, reader: &mut impl BufRead) -> std::io::Result<Option<Read1>> {
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
        if too_long {
            // An over-long line decodes as nothing: keep only its end, so it reads as bad.
            self.buf.clear();
            self.buf.extend_from_slice(b"\"line too long\"\n");
        }
        Ok(Some(Read1 {
            offset,
            line: self.line,
            complete: self.buf.last() == Some(&b'\n'),
        }))
    }
}

/// Sequential reads through `pread`, so a scan never moves a shared handle's cursor, ending at
/// `limit` if the file is longer.
struct ReadAt<'a> {
    file: &'a File,
    offset: u64,
    limit: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = usize::try_from(self.limit.saturating_sub(self.offset)).unwrap_or(usize::MAX);
        let wanted = buf.len().min(room);
        let n = self.file.read_at(&mut buf[..wanted], self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}
