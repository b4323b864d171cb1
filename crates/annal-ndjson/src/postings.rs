//! The in-memory postings of the index: for each event type, aggregate type, source,
//! correlation id and causation id, the indexes (into [`crate::index::Index::entries`]) of the
//! events that carry it, and per block of [`BLOCK`] entries the smallest and largest timestamp.
//!
//! Built with the index at open and extended with each batch after its fsync, so a query
//! examines only the entries of its most selective field and the blocks that overlap its time
//! window. Invariants: every list is sorted and names entries that exist; a block's bounds
//! are exactly the min and max timestamp of its entries (timestamps are the caller's and need
//! not grow with the position, so bounds, not order, decide which blocks a window needs).

use std::collections::HashMap;

use annal_core::Filter;

use crate::scan::LineInfo;

/// Entries per time block.
pub(crate) const BLOCK: usize = 1_024;

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Postings {
    by_type: HashMap<String, Vec<u32>>,
    by_aggregate_type: HashMap<String, Vec<u32>>,
    by_source: HashMap<String, Vec<u32>>,
    by_correlation: HashMap<String, Vec<u32>>,
    by_causation: HashMap<String, Vec<u32>>,
    /// Per block of entries: the smallest and largest timestamp in it.
    blocks: Vec<(i64, i64)>,
}

/// The fields with postings, numbered as the derived index stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    EventType = 0,
    AggregateType = 1,
    Source = 2,
    Correlation = 3,
    Causation = 4,
}

/// The field a query is driven by and its values, or `None` when the filter selects by no
/// field that has postings (only by stream, time, or nothing). A correlation or causation id
/// names one conversation, so it is taken first; between event types and aggregate types, the
/// one with fewer events (`counts`, the store's counts per type and per aggregate type); the
/// source last, as most events share a few.
pub(crate) fn choose(
    filter: &Filter,
    counts: [&HashMap<String, u64>; 2],
) -> Option<(Field, Vec<String>)> {
    if let Some(id) = &filter.correlation_id {
        return Some((Field::Correlation, vec![id.clone()]));
    }
    if let Some(id) = &filter.causation_id {
        return Some((Field::Causation, vec![id.clone()]));
    }
    let types: Vec<String> = filter
        .event_types
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    let aggregates: Vec<String> = filter
        .aggregate_types
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    let total = |keys: &[String], counts: &HashMap<String, u64>| -> u64 {
        keys.iter()
            .map(|key| counts.get(key).copied().unwrap_or(0))
            .sum()
    };
    match (types.is_empty(), aggregates.is_empty()) {
        (false, false) if total(&aggregates, counts[1]) < total(&types, counts[0]) => {
            Some((Field::AggregateType, aggregates))
        }
        (false, _) => Some((Field::EventType, types)),
        (true, false) => Some((Field::AggregateType, aggregates)),
        (true, true) => filter
            .source
            .as_ref()
            .map(|source| (Field::Source, vec![source.clone()])),
    }
}

impl Postings {
    /// Each field's lists.
    pub(crate) fn fields(&self) -> [(Field, &HashMap<String, Vec<u32>>); 5] {
        [
            (Field::EventType, &self.by_type),
            (Field::AggregateType, &self.by_aggregate_type),
            (Field::Source, &self.by_source),
            (Field::Correlation, &self.by_correlation),
            (Field::Causation, &self.by_causation),
        ]
    }

    /// Adds the line stored at `entries[at]`.
    pub(crate) fn add(&mut self, at: usize, line: &LineInfo) -> Result<(), String> {
        let at32 = u32::try_from(at).map_err(|_| "more than 2^32 events in one log".to_owned())?;
        let push = |map: &mut HashMap<String, Vec<u32>>, key: &str| match map.get_mut(key) {
            Some(list) => list.push(at32),
            None => {
                map.insert(key.to_owned(), vec![at32]);
            }
        };
        push(&mut self.by_type, &line.event_type);
        push(&mut self.by_aggregate_type, &line.aggregate_type);
        push(&mut self.by_source, &line.source);
        if let Some(id) = &line.correlation_id {
            push(&mut self.by_correlation, id);
        }
        if let Some(id) = &line.causation_id {
            push(&mut self.by_causation, id);
        }
        match self.blocks.get_mut(at / BLOCK) {
            Some((low, high)) => {
                *low = (*low).min(line.timestamp);
                *high = (*high).max(line.timestamp);
            }
            None => self.blocks.push((line.timestamp, line.timestamp)),
        }
        Ok(())
    }

    /// Forgets the first `moved` entries: drops them from every list, shifts the rest down,
    /// and bounds the blocks anew over `timestamps`, the remaining entries' timestamps.
    pub(crate) fn forget_first(&mut self, moved: usize, timestamps: &[i64]) {
        let moved32 = u32::try_from(moved).unwrap_or(u32::MAX);
        for map in [
            &mut self.by_type,
            &mut self.by_aggregate_type,
            &mut self.by_source,
            &mut self.by_correlation,
            &mut self.by_causation,
        ] {
            map.retain(|_, list| {
                let gone = list.partition_point(|&at| at < moved32);
                list.drain(..gone);
                list.iter_mut().for_each(|at| *at -= moved32);
                !list.is_empty()
            });
        }
        self.blocks = timestamps
            .chunks(BLOCK)
            .map(|block| {
                let low = block.iter().copied().min().unwrap_or(i64::MIN);
                let high = block.iter().copied().max().unwrap_or(i64::MAX);
                (low, high)
            })
            .collect();
    }

    /// The tail's lists of `keys` in `field` (those with no list are left out).
    pub(crate) fn lists(&self, field: Field, keys: &[String]) -> Vec<&[u32]> {
        let map = self.fields()[field as usize].1;
        keys.iter()
            .filter_map(|key| map.get(key).map(Vec::as_slice))
            .collect()
    }

    /// Whether the block of entry `at` may hold an event in the filter's time window.
    pub(crate) fn block_overlaps(&self, at: usize, filter: &Filter) -> bool {
        let Some(&(low, high)) = self.blocks.get(at / BLOCK) else {
            return true;
        };
        filter.timestamp_from.is_none_or(|from| high >= from)
            && filter.timestamp_to.is_none_or(|to| low < to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(event_type: &str, timestamp: i64) -> LineInfo {
        LineInfo {
            event_type: event_type.into(),
            timestamp,
            ..LineInfo::default()
        }
    }

    #[test]
    fn forgetting_the_first_entries_shifts_the_rest_down() {
        let mut postings = Postings::default();
        let timestamps: Vec<i64> = (0..BLOCK as i64 + 5).collect();
        for (at, &timestamp) in timestamps.iter().enumerate() {
            let kind = if at % 2 == 0 { "even" } else { "odd" };
            postings.add(at, &line(kind, timestamp)).unwrap();
        }
        postings.forget_first(BLOCK + 2, &timestamps[BLOCK + 2..]);
        let keys = ["even".to_owned(), "odd".to_owned()];
        assert_eq!(
            postings.lists(Field::EventType, &keys),
            vec![&[0u32, 2][..], &[1][..]]
        );
        assert_eq!(postings.blocks, vec![(BLOCK as i64 + 2, BLOCK as i64 + 4)]);
        postings.forget_first(3, &[]);
        assert!(postings.lists(Field::EventType, &keys).is_empty());
        assert!(postings.blocks.is_empty());
    }
}
