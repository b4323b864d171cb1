//! [`BloomFilter`]: an in-memory Bloom filter over the hashes of stored event ids, so that a
//! writer checking a new id for a duplicate almost never reads its stored ids.
//!
//! Both embedded backends keep their older ids on disk (SQLite's id runs, NDJSON's derived
//! index). Without it every appended id cost one lookup there (in SQLite a random page, a large
//! share of the writer's time for batched appends; `docs/sqlite-schema.md`). The Bloom filter
//! answers "certainly not stored" for all but a few per cent of new ids; a "maybe" still reads the
//! runs, so a false positive costs a lookup, never a wrong answer. A removed event's id keeps its
//! bits set, which only makes a later "maybe" a little likelier.
//!
//! The keys are already uniform 64-bit hashes (each store's keyed SipHash-1-3), so the
//! Bloom filter takes its bit positions straight from the key's bits instead of hashing again: the
//! high half picks one 64-bit word, five 6-bit slices of the low half pick the bits inside it (a
//! blocked Bloom filter: one cache line per probe). It grows by adding layers of twice the
//! capacity, so it never needs the keys it already holds to be read again.

/// Bloom filter bits per key at full capacity, for 4 bytes of memory per stored id. Each false
/// positive reads one chunk per id run, and the layers' rates add up, so the rate is kept low:
/// with 16 bits per key those reads showed in the writer's profile (rates and figures in
/// `BENCHMARKS.md`, "Figures behind constants in the code").
const BITS_PER_KEY: usize = 32;

/// Bits set per key.
const BITS_SET: u32 = 5;

/// Keys the smallest layer holds.
const CAPACITY_MIN: usize = 1 << 16;

/// A Bloom filter over 64-bit hashes. See the module documentation.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    /// Every key is in exactly one layer; only the last one takes new keys.
    layers: Vec<Layer>,
}

#[derive(Debug, Clone)]
struct Layer {
    words: Vec<u64>,
    keys: usize,
    capacity: usize,
}

impl Layer {
    fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(CAPACITY_MIN).next_power_of_two();
        Self {
            words: vec![0; capacity * BITS_PER_KEY / 64],
            keys: 0,
            capacity,
        }
    }

    /// The word a key lives in and the bits it sets there.
    fn slot(&self, key: u64) -> (usize, u64) {
        // The length is a power of two, so the mask keeps the index in bounds.
        let word = (key >> 32) as usize & (self.words.len() - 1);
        let mut bits = 0u64;
        for slice in 0..BITS_SET {
            bits |= 1 << ((key >> (6 * slice)) & 63);
        }
        (word, bits)
    }

    fn insert(&mut self, key: u64) {
        let (word, bits) = self.slot(key);
        self.words[word] |= bits;
        self.keys += 1;
    }

    fn may_contain(&self, key: u64) -> bool {
        let (word, bits) = self.slot(key);
        self.words[word] & bits == bits
    }
}

impl BloomFilter {
    /// An empty Bloom filter sized for about `expected` keys before it first grows.
    pub fn with_capacity(expected: usize) -> Self {
        Self {
            layers: vec![Layer::with_capacity(expected)],
        }
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: u64) {
        let full = self
            .layers
            .last()
            .is_none_or(|layer| layer.keys >= layer.capacity);
        if full {
            let capacity = self.layers.last().map_or(0, |layer| layer.capacity * 2);
            self.layers.push(Layer::with_capacity(capacity));
        }
        if let Some(layer) = self.layers.last_mut() {
            layer.insert(key);
        }
    }

    /// `false` if `key` was certainly never added; `true` if it may have been.
    pub fn may_contain(&self, key: u64) -> bool {
        self.layers.iter().any(|layer| layer.may_contain(key))
    }

    /// Bytes of Bloom filter memory.
    pub fn bytes(&self) -> usize {
        self.layers.iter().map(|layer| layer.words.len() * 8).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{DefaultHasher, Hash, Hasher};

    use super::*;

    /// A uniform 64-bit key for a test string.
    fn id_hash(id: &str) -> u64 {
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn every_added_key_is_reported_and_few_others_are() {
        let mut bloom = BloomFilter::with_capacity(0);
        let added = 200_000u64;
        for n in 0..added {
            bloom.insert(id_hash(&format!("evt-{n}")));
        }
        for n in 0..added {
            assert!(bloom.may_contain(id_hash(&format!("evt-{n}"))), "evt-{n}");
        }
        let probes = 100_000u64;
        let false_positives = (0..probes)
            .filter(|n| bloom.may_contain(id_hash(&format!("other-{n}"))))
            .count();
        let rate = false_positives as f64 / probes as f64;
        assert!(rate < 0.02, "false positive rate {rate}");
        // Grown from 65,536 keys to three layers (65,536 + 131,072 + 262,144 keys).
        assert_eq!(bloom.layers.len(), 3);
        assert_eq!(
            bloom.bytes(),
            (65_536 + 131_072 + 262_144) * BITS_PER_KEY / 8
        );
    }

    #[test]
    fn an_empty_filter_reports_nothing() {
        let bloom = BloomFilter::with_capacity(10);
        assert!((0..10_000u64).all(|n| !bloom.may_contain(id_hash(&n.to_string()))));
    }
}
