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
#[derive(Debug, Default)]
pub(crate) struct Postings {
    by_type: HashMap<String, Vec<u32>>,
    by_aggregate_type: HashMap<String, Vec<u32>>,
    by_source: HashMap<String, Vec<u32>>,
    by_correlation: HashMap<String, Vec<u32>>,
    by_causation: HashMap<String, Vec<u32>>,
    /// Per block of entries: the smallest and largest timestamp in it.
    blocks: Vec<(i64, i64)>,
}

impl Postings {
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

    /// The lists of the filter's most selective field (fewest entries), or `None` when it
    /// selects by no field that has postings (only by stream, time, or nothing). An empty
    /// vector means no stored event can match.
    pub(crate) fn driving(&self, filter: &Filter) -> Option<Vec<&[u32]>> {
        fn lists<'m>(map: &'m HashMap<String, Vec<u32>>, keys: Vec<&str>) -> Vec<&'m [u32]> {
            keys.iter()
                .filter_map(|key| map.get(*key).map(Vec::as_slice))
                .collect()
        }
        let mut candidates: Vec<Vec<&[u32]>> = Vec::new();
        if !filter.event_types.is_empty() {
            let keys = filter.event_types.iter().map(|t| t.as_str()).collect();
            candidates.push(lists(&self.by_type, keys));
        }
        if !filter.aggregate_types.is_empty() {
            let keys = filter.aggregate_types.iter().map(|a| a.as_str()).collect();
            candidates.push(lists(&self.by_aggregate_type, keys));
        }
        let single = [
            (&self.by_source, &filter.source),
            (&self.by_correlation, &filter.correlation_id),
            (&self.by_causation, &filter.causation_id),
        ];
        for (map, key) in single {
            if let Some(key) = key {
                candidates.push(lists(map, vec![key.as_str()]));
            }
        }
        candidates
            .into_iter()
            .min_by_key(|lists| lists.iter().map(|list| list.len()).sum::<usize>())
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
