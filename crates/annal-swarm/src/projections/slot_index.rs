//! [`SlotIndex`]: a secondary index from a key to the slots (positions in an entry vector) that
//! carry it, in slot order.
//!
//! Entries are pushed and never removed, so a slot is a stable handle and slot order is the order
//! in which entities first appeared; iterating a key's slots therefore yields entries in
//! first-seen order, as the seed's insertion-ordered maps did.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Key to the ordered set of slots that have it.
#[derive(Clone, Debug)]
pub(crate) struct SlotIndex<K> {
    slots: HashMap<K, BTreeSet<usize>>,
}

impl<K> Default for SlotIndex<K> {
    fn default() -> Self {
        Self {
            slots: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash> SlotIndex<K> {
    pub(crate) fn insert(&mut self, key: K, slot: usize) {
        self.slots.entry(key).or_default().insert(slot);
    }

    pub(crate) fn remove<Q>(&mut self, key: &Q, slot: usize)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some(slots) = self.slots.get_mut(key) {
            slots.remove(&slot);
            if slots.is_empty() {
                self.slots.remove(key);
            }
        }
    }

    /// Moves `slot` from `old` to `new`; a no-op when they are equal.
    pub(crate) fn moved(&mut self, old: &K, new: K, slot: usize)
    where
        K: Clone,
    {
        if *old != new {
            self.remove(old, slot);
            self.insert(new, slot);
        }
    }

    /// The slots carrying `key`, in slot order.
    pub(crate) fn get<Q>(&self, key: &Q) -> impl Iterator<Item = usize> + '_
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.slots
            .get(key)
            .into_iter()
            .flat_map(|slots| slots.iter().copied())
    }

    pub(crate) fn count<Q>(&self, key: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.slots.get(key).map_or(0, BTreeSet::len)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.slots.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_slot_order_and_drops_empty_keys() {
        let mut index = SlotIndex::default();
        index.insert("a".to_owned(), 3);
        index.insert("a".to_owned(), 1);
        index.insert("b".to_owned(), 2);
        assert_eq!(index.get("a").collect::<Vec<_>>(), [1, 3]);
        index.moved(&"b".to_owned(), "a".to_owned(), 2);
        assert_eq!(index.get("a").collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(index.count("b"), 0);
        assert_eq!(index.keys().count(), 1);
        index.remove("a", 1);
        assert_eq!(index.count("a"), 2);
    }
}
