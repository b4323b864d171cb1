//! The records the derived index stores in its blobs, delta-encoded:
//!
//! - [`Located`]: an event's position, line offset and length, and timestamp (`blocks` and
//!   `postings`);
//! - [`Versioned`]: a stream's event by version (`stream_runs`);
//! - [`Keyed`]: an event by the hash of its id (`ids`).
//!
//! A blob is one or more *chunks*: the number of records (unsigned LEB128), then each record as
//! the differences of its fields from the record before it in the chunk (signed LEB128; the
//! first against zero), except an id's hash, which is random and stored whole (8 bytes,
//! little-endian). Records come mostly in position order, so a difference takes a byte or two
//! where a whole field took eight: a record takes 5-8 bytes instead of 28 (14 with a hash), and
//! the index writes that much less beside the log. A chunk stands alone, so two blobs joined
//! (a merge of id rows, `pass.rs`) are one blob of both.
//!
//! A blob that ends inside a chunk, or whose integers overflow, is damage; decoding says so
//! instead of guessing.

use crate::index::Entry;

/// An event's entry with its timestamp, so a time window filters records exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Located {
    pub(crate) entry: Entry,
    pub(crate) timestamp: i64,
}

/// A stream's event: its version and entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Versioned {
    pub(crate) version: u64,
    pub(crate) entry: Entry,
}

/// An event's entry under the hash of its id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Keyed {
    pub(crate) hash: u64,
    pub(crate) entry: Entry,
}

/// A record type of the blobs; `Default` is the record a chunk's first is written against.
pub(crate) trait Record: Sized + Copy + Default {
    /// Appends the record's differences from `before` to `out`.
    fn put(&self, before: &Self, out: &mut Vec<u8>);
    /// Reads one record written against `before`.
    fn get(before: &Self, input: &mut &[u8]) -> Result<Self, String>;
}

/// Appends the difference `value - before` (modulo 2^64, so every pair of values has one).
fn put_difference(value: u64, before: u64, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = leb128::write::signed(out, value.wrapping_sub(before).cast_signed());
}

/// Reads a difference written by [`put_difference`] and applies it to `before`.
fn get_difference(before: u64, input: &mut &[u8]) -> Result<u64, String> {
    let difference = leb128::read::signed(input).map_err(damage)?;
    Ok(before.wrapping_add(difference.cast_unsigned()))
}

fn damage(error: leb128::read::Error) -> String {
    match error {
        leb128::read::Error::IoError(_) => "a blob ends inside a record".to_owned(),
        leb128::read::Error::Overflow => "a blob holds an integer over 64 bits".to_owned(),
    }
}

fn put_entry(entry: &Entry, before: &Entry, out: &mut Vec<u8>) {
    put_difference(entry.position, before.position, out);
    put_difference(entry.offset, before.offset, out);
    put_difference(u64::from(entry.len), u64::from(before.len), out);
}

fn get_entry(before: &Entry, input: &mut &[u8]) -> Result<Entry, String> {
    let position = get_difference(before.position, input)?;
    let offset = get_difference(before.offset, input)?;
    let len = get_difference(u64::from(before.len), input)?;
    let len = u32::try_from(len).map_err(|_| format!("a record's length {len} is over 32 bits"))?;
    Ok(Entry {
        position,
        offset,
        len,
    })
}

impl Record for Located {
    fn put(&self, before: &Self, out: &mut Vec<u8>) {
        put_entry(&self.entry, &before.entry, out);
        let (now, then) = (self.timestamp, before.timestamp);
        put_difference(now.cast_unsigned(), then.cast_unsigned(), out);
    }

    fn get(before: &Self, input: &mut &[u8]) -> Result<Self, String> {
        let entry = get_entry(&before.entry, input)?;
        let timestamp = get_difference(before.timestamp.cast_unsigned(), input)?.cast_signed();
        Ok(Self { entry, timestamp })
    }
}

impl Record for Versioned {
    fn put(&self, before: &Self, out: &mut Vec<u8>) {
        put_difference(self.version, before.version, out);
        put_entry(&self.entry, &before.entry, out);
    }

    fn get(before: &Self, input: &mut &[u8]) -> Result<Self, String> {
        let version = get_difference(before.version, input)?;
        let entry = get_entry(&before.entry, input)?;
        Ok(Self { version, entry })
    }
}

impl Record for Keyed {
    fn put(&self, before: &Self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash.to_le_bytes());
        put_entry(&self.entry, &before.entry, out);
    }

    fn get(before: &Self, input: &mut &[u8]) -> Result<Self, String> {
        let (hash, rest) = input
            .split_first_chunk::<8>()
            .ok_or_else(|| "a blob ends inside a record".to_owned())?;
        *input = rest;
        let hash = u64::from_le_bytes(*hash);
        let entry = get_entry(&before.entry, input)?;
        Ok(Self { hash, entry })
    }
}

/// The blob of `records`: one chunk.
pub(crate) fn encode<R: Record>(records: &[R]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 8 + 4);
    // Writing into a Vec cannot fail.
    let _ = leb128::write::unsigned(&mut out, records.len() as u64);
    let mut before = R::default();
    for record in records {
        record.put(&before, &mut out);
        before = *record;
    }
    out
}

/// The records of a blob, chunk after chunk, or why it is not one.
pub(crate) fn decode<R: Record>(blob: &[u8]) -> Result<Vec<R>, String> {
    let mut input = blob;
    let mut records = Vec::new();
    while !input.is_empty() {
        let count = leb128::read::unsigned(&mut input).map_err(damage)?;
        let mut before = R::default();
        for _ in 0..count {
            // A damaged count ends here, at the blob's end, not in a huge allocation.
            let record = R::get(&before, &mut input)?;
            records.push(record);
            before = record;
        }
    }
    Ok(records)
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
        let located = vec![
            Located {
                entry: entry(u64::MAX),
                timestamp: -5,
            },
            Located {
                entry: entry(0),
                timestamp: i64::MAX,
            },
            Located {
                entry: entry(7),
                timestamp: i64::MIN,
            },
        ];
        let versioned = vec![
            Versioned {
                version: 7,
                entry: entry(3),
            },
            Versioned {
                version: 1,
                entry: entry(u64::MAX - 1),
            },
        ];
        let keyed = vec![
            Keyed {
                hash: u64::MAX - 9,
                entry: entry(1),
            },
            Keyed {
                hash: 3,
                entry: entry(2),
            },
        ];
        assert_eq!(decode::<Located>(&encode(&located)).unwrap(), located);
        assert_eq!(decode::<Versioned>(&encode(&versioned)).unwrap(), versioned);
        assert_eq!(decode::<Keyed>(&encode(&keyed)).unwrap(), keyed);
        assert_eq!(decode::<Keyed>(&encode::<Keyed>(&[])).unwrap(), vec![]);
    }

    #[test]
    fn records_in_position_order_take_a_few_bytes_each() {
        let records: Vec<Located> = (1..=1_000u64)
            .map(|position| Located {
                entry: Entry {
                    position,
                    offset: position * 640,
                    len: 639,
                },
                timestamp: 1_700_000_000_000 + position.cast_signed(),
            })
            .collect();
        let blob = encode(&records);
        // 1 byte each for position, length and timestamp, 2 for the offset (after the first).
        assert!(blob.len() <= 1_000 * 5 + 16, "{} bytes", blob.len());
        assert_eq!(decode::<Located>(&blob).unwrap(), records);
    }

    #[test]
    fn joined_blobs_are_one_blob_of_both() {
        let first = [Keyed {
            hash: 1,
            entry: entry(10),
        }];
        let second = [Keyed {
            hash: 2,
            entry: entry(4),
        }];
        let mut joined = encode(&first);
        joined.extend_from_slice(&encode(&second));
        assert_eq!(decode::<Keyed>(&joined).unwrap(), [first, second].concat());
    }

    #[test]
    fn a_damaged_blob_is_refused() {
        let blob = encode(&[Versioned {
            version: 300,
            entry: entry(1 << 40),
        }]);
        for cut in 1..blob.len() {
            let error = decode::<Versioned>(&blob[..cut]).unwrap_err();
            assert!(error.contains("ends inside a record"), "{cut}: {error}");
        }
        // A count larger than the records that follow.
        let mut counted = blob.clone();
        counted[0] = 2;
        assert!(decode::<Versioned>(&counted).is_err());
        // One record whose version runs to 12 bytes of LEB128.
        let mut overflow = vec![1];
        overflow.extend([0xff; 11]);
        overflow.push(0x7f);
        let error = decode::<Versioned>(&overflow).unwrap_err();
        assert!(error.contains("over 64 bits"), "{error}");
    }
}
