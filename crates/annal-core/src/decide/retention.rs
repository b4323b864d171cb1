//! Which events a store-wide retention pass removes, decided one event at a time in position
//! order, the same way in every backend that walks its log ([`RetentionPass`]).
//!
//! Invariant: a pass leaves every stream a contiguous suffix of its readable versions. The age
//! cutoff compares timestamps the caller supplied, which need not grow with the version, so a
//! stream loses only the longest prefix of events older than the cutoff: its first event at or
//! after the cutoff, and everything after it, stay. The count limit removes the oldest
//! positions, a prefix of every stream, and the snapshot rule keeps a stream's versions after
//! its snapshot, a suffix; so what is removed is a prefix of each stream.

use std::collections::HashSet;

use crate::event::Timestamp;
use crate::position::Version;
use crate::store::RetentionPolicy;

/// What a retention pass does with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionVerdict {
    /// The policy does not select it.
    Keep,
    /// The policy selects it and nothing protects it.
    Remove,
    /// The policy selects it, but its stream's snapshot does not cover it and the pass is not
    /// forced.
    Protected,
}

/// One retention pass over a store's readable events, offered in position order.
#[derive(Debug)]
pub struct RetentionPass {
    policy: RetentionPolicy,
    /// Events the count limit removes: the first this many by position.
    over_count: u64,
    /// Events offered so far.
    offered: u64,
    /// Streams that have shown an event at or after the age cutoff: none of their later
    /// events is old enough, whatever its timestamp.
    young: HashSet<String>,
}

impl RetentionPass {
    /// A pass of `policy` over a store holding `total_events` readable events.
    pub fn new(policy: RetentionPolicy, total_events: u64) -> Self {
        let over_count = policy
            .max_events
            .map_or(0, |max| total_events.saturating_sub(max));
        Self {
            policy,
            over_count,
            offered: 0,
            young: HashSet::new(),
        }
    }

    /// Whether the pass can remove anything at all.
    pub fn selects_any(&self) -> bool {
        self.over_count > 0 || self.policy.before_timestamp.is_some()
    }

    /// The verdict on the next event in position order: of `stream`, at `version`, stamped
    /// `timestamp`, in a stream whose snapshot (if any) is at `snapshot`.
    pub fn decide(
        &mut self,
        stream: &str,
        version: Version,
        timestamp: Timestamp,
        snapshot: Option<Version>,
    ) -> RetentionVerdict {
        let too_many = self.offered < self.over_count;
        self.offered += 1;
        let too_old = match self.policy.before_timestamp {
            Some(cutoff) if timestamp < cutoff => !self.young.contains(stream),
            Some(_) => {
                if !self.young.contains(stream) {
                    self.young.insert(stream.to_owned());
                }
                false
            }
            None => false,
        };
        if !(too_many || too_old) {
            return RetentionVerdict::Keep;
        }
        let covered = snapshot.is_none_or(|snapshot| version <= snapshot);
        if covered || self.policy.force {
            RetentionVerdict::Remove
        } else {
            RetentionVerdict::Protected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(policy: RetentionPolicy, events: &[(&str, i64)], expected: &str) {
        let mut pass = RetentionPass::new(policy, events.len() as u64);
        let mut versions = std::collections::HashMap::new();
        let verdicts: String = events
            .iter()
            .map(|(stream, timestamp)| {
                let version = versions.entry(*stream).or_insert(0u64);
                *version += 1;
                match pass.decide(stream, Version(*version), *timestamp, None) {
                    RetentionVerdict::Keep => 'k',
                    RetentionVerdict::Remove => 'r',
                    RetentionVerdict::Protected => 'p',
                }
            })
            .collect();
        assert_eq!(verdicts, expected);
    }

    #[test]
    fn age_removes_only_a_prefix_of_each_stream() {
        let by_age = RetentionPolicy {
            before_timestamp: Some(100),
            ..RetentionPolicy::default()
        };
        // Stream a: old, young, old again: the second old event stays. Stream b: all old.
        check(
            by_age,
            &[("a", 10), ("b", 10), ("a", 200), ("a", 20), ("b", 30)],
            "rrkkr",
        );
    }

    #[test]
    fn count_and_age_together_remove_the_longer_prefix() {
        let both = RetentionPolicy {
            before_timestamp: Some(100),
            max_events: Some(3),
            ..RetentionPolicy::default()
        };
        check(
            both,
            &[("a", 500), ("a", 10), ("b", 10), ("a", 10), ("b", 900)],
            "rrrkk",
        );
    }
}
