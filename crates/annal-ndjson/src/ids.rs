//! The index of stored event ids: finding an event by id (a trace's first step and each of
//! its causes) and, in the writer, idempotent retries and duplicate detection.
//!
//! It maps a 64-bit hash of each id to its position, not the id itself, to keep memory small; a
//! hit is confirmed by reading the stored line, so a collision costs a read, never a wrong
//! answer. The shared index holds one for the readable events ([`crate::index::Index::ids`]);
//! the writer keeps a second, small one for its open group, whose lines are not indexed yet.
//!
//! Invariant: an id index holds exactly the positions of the events it covers, keyed by the
//! hash of their id.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Hash → position for every readable event.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    first: HashMap<u64, u64>,
    /// Further positions for hashes that several stored ids share (rare).
    more: HashMap<u64, Vec<u64>>,
}

/// The key of an id. `DefaultHasher::new()` has fixed keys, so the value depends only on the id;
/// it is never persisted, so a change of algorithm costs nothing.
pub(crate) fn id_hash(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

impl IdIndex {
    /// The positions of the stored ids with this hash.
    pub(crate) fn candidates(&self, hash: u64) -> impl Iterator<Item = u64> + '_ {
        let more = self.more.get(&hash).into_iter().flatten().copied();
        self.first.get(&hash).copied().into_iter().chain(more)
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
        assert_eq!(id_hash("a"), id_hash("a"));
    }
}
