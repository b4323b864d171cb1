//! The index of stored event ids: finding an event by id (a trace's first step and each of
//! its causes) and, in the writer, idempotent retries and duplicate detection.
//!
//! It maps a 64-bit keyed hash of each id ([`IdHasher`]) to its position, not the id itself; a
//! hit is confirmed by reading the stored line, so a collision costs a read, never a wrong
//! answer. The shared index holds one for the readable events ([`crate::index::Index::ids`]);
//! the writer keeps a second, small one for its open group, whose lines are not indexed yet.
//!
//! Invariant: an id index holds exactly the positions of the events it covers, keyed by the
//! hash of their id.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use siphasher::sip::SipHasher13;

/// Hash → position for every readable event.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdIndex {
    first: HashMap<u64, u64>,
    /// Further positions for hashes that several stored ids share (rare).
    more: HashMap<u64, Vec<u64>>,
}

/// The key of an id: SipHash-1-3 under a 128-bit key drawn at random for each store. The
/// derived index on disk (`disk/`) stores these hashes, so it keeps the key beside them; ids
/// come from callers, and an unkeyed hash would let a caller choose ids that all share one
/// hash (or one bucket of the stored index) and make every lookup of them slow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHasher {
    key: (u64, u64),
}

impl IdHasher {
    pub(crate) fn with_key(k0: u64, k1: u64) -> Self {
        Self { key: (k0, k1) }
    }

    /// A hasher under a fresh random key (the standard library's per-process random seed).
    pub(crate) fn random() -> Self {
        let half = || RandomState::new().build_hasher().finish();
        Self::with_key(half(), half())
    }

    pub(crate) fn key(&self) -> (u64, u64) {
        self.key
    }

    pub(crate) fn hash(&self, id: &str) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.key.0, self.key.1);
        hasher.write(id.as_bytes());
        hasher.finish()
    }
}

impl IdIndex {
    /// The positions of the stored ids with this hash.
    pub(crate) fn candidates(&self, hash: u64) -> impl Iterator<Item = u64> + '_ {
        let more = self.more.get(&hash).into_iter().flatten().copied();
        self.first.get(&hash).copied().into_iter().chain(more)
    }

    /// Every (hash, position) it holds.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let more = self
            .more
            .iter()
            .flat_map(|(hash, positions)| positions.iter().map(move |p| (*hash, *p)));
        self.first.iter().map(|(hash, p)| (*hash, *p)).chain(more)
    }

    /// Records a stored id.
    pub(crate) fn insert(&mut self, hash: u64, position: u64) {
        if let Some(existing) = self.first.insert(hash, position) {
            self.first.insert(hash, existing);
            self.more.entry(hash).or_default().push(position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_hashes_keep_every_position() {
        let mut index = IdIndex::default();
        index.insert(7, 1);
        index.insert(7, 2);
        assert_eq!(index.candidates(7).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(index.candidates(8).count(), 0);
        let hasher = IdHasher::random();
        assert_eq!(hasher.hash("a"), hasher.hash("a"));
        assert_ne!(IdHasher::random().hash("a"), hasher.hash("a"));
        // Stored on disk: SipHash-1-3 must stay what it was for a given key.
        assert_eq!(
            IdHasher::with_key(1, 2).hash("evt-1"),
            13_890_001_955_619_539_678
        );
    }
}
