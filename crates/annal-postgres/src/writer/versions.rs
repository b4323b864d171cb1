//! The writer's guess of each stream's version: the last one it saw committed or locked.
//!
//! Invariant: the cache is only a guess. A plan made from it is written only if the write
//! statement finds, under the stream locks, exactly the cached versions (`append.rs`); other
//! processes, maintenance and rolled-back groups can make it stale, which costs one more round
//! trip, never a wrong answer.

use std::collections::HashMap;

/// Most streams remembered; past it the cache starts over (a miss costs one round trip).
const STREAMS_MAX: usize = 64 * 1024;

/// Stream id → version.
#[derive(Debug, Default)]
pub(crate) struct VersionCache {
    versions: HashMap<i64, u64>,
}

impl VersionCache {
    /// The cached versions of all `streams`, or `None` if one is unknown.
    pub(crate) fn predict(&self, streams: &[i64]) -> Option<HashMap<i64, u64>> {
        streams
            .iter()
            .map(|id| self.versions.get(id).map(|version| (*id, *version)))
            .collect()
    }

    /// Records versions seen committed (or locked, so about to be).
    pub(crate) fn remember(&mut self, seen: HashMap<i64, u64>) {
        if self.versions.len() + seen.len() > STREAMS_MAX {
            self.versions.clear();
        }
        self.versions.extend(seen);
    }

    /// Forgets everything: after maintenance changed versions behind the writer's back.
    pub(crate) fn clear(&mut self) {
        self.versions.clear();
    }
}
