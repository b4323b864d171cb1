//! Reading an import file line by line, whatever its bytes: the line readers of the NDJSON and
//! seed ledger importers.
//!
//! Invariants: memory stays bounded by [`LINE_BYTES_MAX`] however long a line is (the rest of a
//! longer line is read past, not kept), and a line that is not UTF-8 or too long is a bad line
//! for the importer to report and skip, never an error that stops the import.

use std::io::BufRead;

/// The longest line an importer reads: the NDJSON store's own line limit.
pub(crate) const LINE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// One line of an import file.
pub(crate) struct Line<'a> {
    /// The line number, from 1.
    pub(crate) number: usize,
    /// Bytes read for it, newline included (for the progress bar).
    pub(crate) read: u64,
    /// Whether it ended without a newline: the last line, perhaps torn by a crash.
    pub(crate) torn: bool,
    /// Its text without the newline, or why it has none.
    pub(crate) text: Result<&'a str, String>,
}

/// Lines of `reader`, each at most `max` bytes.
pub(crate) struct Lines<R> {
    reader: R,
    bytes: Vec<u8>,
    number: usize,
    max: usize,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            bytes: Vec::new(),
            number: 0,
            max,
        }
    }

    /// The next line, or `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.bytes.clear();
        let mut read = 0u64;
        let mut too_long = false;
        let terminated = loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                break false;
            }
            let (taken, found) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            let content = if found { taken - 1 } else { taken };
            if self.bytes.len() + content > self.max {
                too_long = true;
            } else {
                self.bytes.extend_from_slice(&available[..content]);
            }
            self.reader.consume(taken);
            read += taken as u64;
            if found {
                break true;
            }
        };
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        let text = if too_long {
            Err(format!("longer than {} bytes", self.max))
        } else {
            std::str::from_utf8(&self.bytes).map_err(|error| format!("not UTF-8 text ({error})"))
        };
        Ok(Some(Line {
            number: self.number,
            read,
            torn: !terminated,
            text,
        }))
    }
}

#[cfg(test)]
mod tests {
    // Test code: a failed set-up step should fail the test at once.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<(usize, u64, bool, Result<String, String>)> {
        let mut lines = Lines::new(std::io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push((
                line.number,
                line.read,
                line.torn,
                line.text.map(str::to_owned),
            ));
        }
        out
    }

    #[test]
    fn bad_bytes_and_long_lines_are_bad_lines_not_errors() {
        let lines = all(b"ok\n\xff\xfe\ntoo long line\n\nlast", 8);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], (1, 3, false, Ok("ok".to_owned())));
        assert!(lines[1].3.as_ref().unwrap_err().contains("not UTF-8"));
        assert_eq!(lines[1].1, 3);
        assert!(
            lines[2]
                .3
                .as_ref()
                .unwrap_err()
                .contains("longer than 8 bytes")
        );
        assert_eq!(lines[2].1, 14);
        assert_eq!(lines[3], (4, 1, false, Ok(String::new())));
        assert_eq!(lines[4], (5, 4, true, Ok("last".to_owned())));
    }
}
