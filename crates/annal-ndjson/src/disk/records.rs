//! The fixed-size records the derived index stores in its blobs, little-endian, 28 bytes each:
//!
//! - [`Located`]: an event's position, line offset and length, and timestamp (`blocks` and
//!   `postings`);
//! - [`Versioned`]: a stream's event by version (`stream_runs`);
//! - [`Keyed`]: an event by the hash of its id (`ids`).
//!
//! A blob whose length is not a whole number of records is damage; decoding says so instead of
//! guessing.

use crate::index::Entry;

/// Bytes of every record.
pub(crate) const RECORD_BYTES: usize = 28;

/// An event's entry with its timestamp, so a time window filters records exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Located {
    pub(crate) entry: Entry,
    pub(crate) timestamp: i64,
}

/// A stream's event: its version and entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Versioned {
    pub(crate) version: u64,
    pub(crate) entry: Entry,
}

/// An event's entry under the hash of its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keyed {
    pub(crate) hash: u64,
    pub(crate) entry: Entry,
}

/// A record type of the blobs.
pub(crate) trait Record: Sized {
    /// Appends the record's bytes to `out`.
    fn put(&self, out: &mut Vec<u8>);
    /// Reads one record from exactly [`RECORD_BYTES`] bytes.
    fn get(bytes: &[u8]) -> Self;
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// The entry's three fields: position, offset, length (20 bytes).
fn put_entry(entry: &Entry, out: &mut Vec<u8>) {
    out.extend_from_slice(&entry.position.to_le_bytes());
    out.extend_from_slice(&entry.offset.to_le_bytes());
    out.extend_from_slice(&entry.len.to_le_bytes());
}

fn get_entry(bytes: &[u8], at: usize) -> Entry {
    Entry {
        position: u64_at(bytes, at),
        offset: u64_at(bytes, at + 8),
        len: u32_at(bytes, at + 16),
    }
}

impl Record for Located {
    fn put(&self, out: &mut Vec<u8>) {
        put_entry(&self.entry, out);
        out.extend_from_slice(&self.timestamp.to_le_bytes());
    }

    fn get(bytes: &[u8]) -> Self {
        Self {
            entry: get_entry(bytes, 0),
            timestamp: u64_at(bytes, 20).cast_signed(),
        }
    }
}

impl Record for Versioned {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        put_entry(&self.entry, out);
    }

    fn get(bytes: &[u8]) -> Self {
        Self {
            version: u64_at(bytes, 0),
            entry: get_entry(bytes, 8),
        }
    }
}

impl Record for Keyed {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash.to_le_bytes());
        put_entry(&self.entry, out);
    }

    fn get(bytes: &[u8]) -> Self {
        Self {
            hash: u64_at(bytes, 0),
            entry: get_entry(bytes, 8),
        }
    }
}

/// The blob of `records`.
pub(crate) fn encode<R: Record>(records: &[R]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * RECORD_BYTES);
    records.iter().for_each(|record| record.put(&mut out));
    out
}

/// The records of a blob, or why it is not one.
pub(crate) fn decode<R: Record>(blob: &[u8]) -> Result<Vec<R>, String> {
    if !blob.len().is_multiple_of(RECORD_BYTES) {
        return Err(format!(
            "a blob of {} bytes is not a whole number of {RECORD_BYTES}-byte records",
            blob.len()
        ));
    }
    Ok(blob.chunks_exact(RECORD_BYTES).map(R::get).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(position: u64) -> Entry {
        Entry {
            position,
            offset: position.wrapping_mul(1_000) ^ u64::from(u32::MAX),
            len: u32::MAX - 1,
        }
    }

    #[test]
    fn every_record_reads_back_as_written() {
        let located = vec![Located {
            entry: entry(u64::MAX),
            timestamp: -5,
        }];
        let versioned = vec![Versioned {
            version: 7,
            entry: entry(3),
        }];
        let keyed = vec![Keyed {
            hash: u64::MAX - 9,
            entry: entry(1),
        }];
        assert_eq!(decode::<Located>(&encode(&located)).unwrap(), located);
        assert_eq!(decode::<Versioned>(&encode(&versioned)).unwrap(), versioned);
        assert_eq!(decode::<Keyed>(&encode(&keyed)).unwrap(), keyed);
        assert_eq!(encode(&keyed).len(), RECORD_BYTES);
    }

    #[test]
    fn a_blob_of_partial_records_is_refused() {
        let error = decode::<Located>(&[0; RECORD_BYTES + 3]).unwrap_err();
        assert!(error.contains("31 bytes"), "{error}");
    }
}
