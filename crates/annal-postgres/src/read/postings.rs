//! A query page driven by the postings of one field: type, aggregate type or source
//! (`schema.rs`, `SCHEMA_V5`).
//!
//! The positions below `meta.posted` are found in `postings`, a few runs of 4,096 positions at a
//! time, nearest first in the page's direction; each candidate row is then read by position and
//! checked against the whole filter in SQL, so the postings only narrow where to look. The
//! positions from `posted` on (at most one run plus the events past the fold's watermark) are
//! read by a range of the primary key with the same check.
//!
//! Invariant: rows come out in the page's direction, at most `enough` of them, and a page costs
//! O(log N + k) plus at most the runs it opens: an empty run of the driving values costs one
//! postings row read, never a read of its events.

use annal_core::Direction;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::retry::ReadFailure;
use crate::row::{EVENT_COLUMNS_OF, EVENT_JOINS};

/// Positions per run of `postings` (and of `time_chunks`).
const RUN: i64 = 4_096;

/// Runs read by the first postings statement of a page; each later one reads twice as many, up
/// to [`RUNS_MAX`], so a rare value costs few statements and a common one few rows.
const RUNS_FIRST: i64 = 4;

/// The most runs one postings statement reads.
const RUNS_MAX: i64 = 256;

/// The candidates checked by the first events statement of a run's batch, beyond the rows still
/// wanted; each later statement checks twice as many.
const CANDIDATES_SLACK: usize = 64;

/// What drives the page, and what every row must meet.
pub(crate) struct PostingsQuery<'a> {
    /// `postings.kind`: 0 type, 1 aggregate type, 2 source.
    pub(crate) kind: i16,
    /// The dictionary ids of the driving values (empty: only the unposted events can match).
    pub(crate) keys: Vec<i64>,
    /// The filter's conditions over `e`, with `$1..$n` bound to `params`.
    pub(crate) conditions: Vec<String>,
    pub(crate) params: &'a [&'a (dyn ToSql + Sync)],
    /// The positions `lo..hi` a row may have (the window's range and the cursor's side).
    pub(crate) lo: i64,
    pub(crate) hi: i64,
    /// `meta.posted` in the page's read snapshot.
    pub(crate) posted: i64,
    pub(crate) direction: Direction,
}

/// The rows a page still wants: the offset's to pass over, then the page's to keep.
pub(crate) struct Wanted {
    skip: u64,
    page: usize,
    rows: Vec<Row>,
}

impl Wanted {
    pub(crate) fn new(skip: u64, page: u64) -> Self {
        Self {
            skip,
            page: usize::try_from(page).unwrap_or(usize::MAX),
            rows: Vec::new(),
        }
    }

    fn full(&self) -> bool {
        self.skip == 0 && self.rows.len() >= self.page
    }

    /// How many more matching rows the page needs, counting those to pass over, at most
    /// [`ROWS_PER_STATEMENT`] (a large offset is passed over in several statements, so memory
    /// stays bounded by that).
    fn limit(&self) -> i64 {
        let keep = self.page.saturating_sub(self.rows.len()) as u64;
        i64::try_from(keep.saturating_add(self.skip).min(ROWS_PER_STATEMENT)).unwrap_or(0)
    }

    /// Takes rows in order: the first ones pass the offset, the rest fill the page.
    fn take(&mut self, rows: Vec<Row>) {
        let passed = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(rows.len());
        self.skip -= passed as u64;
        let room = self.page.saturating_sub(self.rows.len());
        self.rows.extend(rows.into_iter().skip(passed).take(room));
    }
}

/// The most rows one events statement returns.
const ROWS_PER_STATEMENT: u64 = 10_000;

impl PostingsQuery<'_> {
    /// The page's rows, in its direction.
    pub(crate) async fn rows(
        &self,
        client: &Transaction<'_>,
        mut wanted: Wanted,
    ) -> Result<Vec<Row>, ReadFailure> {
        let posted = (self.lo, self.hi.min(self.posted));
        let unposted = (self.lo.max(self.posted), self.hi);
        match self.direction {
            Direction::Forward => {
                self.posted_rows(client, posted, &mut wanted).await?;
                self.unposted_rows(client, unposted, &mut wanted).await?;
            }
            Direction::Backward => {
                self.unposted_rows(client, unposted, &mut wanted).await?;
                self.posted_rows(client, posted, &mut wanted).await?;
            }
        }
        Ok(wanted.rows)
    }

    /// The `ORDER BY` direction of the page.
    fn order(&self) -> &'static str {
        match self.direction {
            Direction::Forward => "ASC",
            Direction::Backward => "DESC",
        }
    }

    /// The events statement: rows meeting the filter and `extra`, in the page's order, cut at
    /// the parameter `$limit`.
    fn select(&self, extra: &str, limit: usize) -> String {
        let mut all: Vec<&str> = self.conditions.iter().map(String::as_str).collect();
        all.push(extra);
        let order = self.order();
        format!(
            "SELECT {EVENT_COLUMNS_OF}(SELECT * FROM events e WHERE {} \
             ORDER BY e.position {order} LIMIT ${limit}) e{EVENT_JOINS} \
             ORDER BY e.position {order}",
            all.join(" AND ")
        )
    }

    /// The matching rows in `lo..hi` (from `posted` on), from a range of the primary key.
    async fn unposted_rows(
        &self,
        client: &Transaction<'_>,
        (mut lo, mut hi): (i64, i64),
        wanted: &mut Wanted,
    ) -> Result<(), ReadFailure> {
        let n = self.params.len();
        let range = format!("e.position >= ${} AND e.position < ${}", n + 1, n + 2);
        let statement = client.prepare_cached(&self.select(&range, n + 3)).await?;
        while lo < hi && !wanted.full() {
            let limit = wanted.limit();
            let mut params = self.params.to_vec();
            params.extend([&lo as &(dyn ToSql + Sync), &hi, &limit]);
            let rows = client.query(&statement, &params).await?;
            let last: Option<i64> = rows.last().map(|row| row.get(0));
            let short = (rows.len() as i64) < limit;
            wanted.take(rows);
            match (last, self.direction) {
                (None, _) => break,
                (Some(_), _) if short => break,
                (Some(last), Direction::Forward) => lo = last + 1,
                (Some(last), Direction::Backward) => hi = last,
            }
        }
        Ok(())
    }

    /// The matching rows in `lo..hi` (below `posted`) through the postings.
    async fn posted_rows(
        &self,
        client: &Transaction<'_>,
        (lo, hi): (i64, i64),
        wanted: &mut Wanted,
    ) -> Result<(), ReadFailure> {
        if lo >= hi || self.keys.is_empty() {
            return Ok(());
        }
        let (first, last) = (lo / RUN, (hi - 1) / RUN);
        let mut width = RUNS_FIRST;
        let mut next = match self.direction {
            Direction::Forward => first,
            Direction::Backward => last,
        };
        while !wanted.full() && (first..=last).contains(&next) {
            let runs = match self.direction {
                Direction::Forward => (next, (next + width - 1).min(last)),
                Direction::Backward => ((next - width + 1).max(first), next),
            };
            let candidates = self.candidates(client, runs, (lo, hi)).await?;
            self.check(client, &candidates, wanted).await?;
            next = match self.direction {
                Direction::Forward => runs.1 + 1,
                Direction::Backward => runs.0 - 1,
            };
            width = (width * 2).min(RUNS_MAX);
        }
        Ok(())
    }

    /// The driving values' positions in the runs `first..=last` that fall in `lo..hi`, in the
    /// page's order.
    async fn candidates(
        &self,
        client: &Transaction<'_>,
        (first, last): (i64, i64),
        (lo, hi): (i64, i64),
    ) -> Result<Vec<i64>, ReadFailure> {
        let statement = client
            .prepare_cached(
                "SELECT chunk, offsets FROM postings \
                 WHERE kind = $1 AND key = ANY($2) AND chunk >= $3 AND chunk <= $4",
            )
            .await?;
        let found = client
            .query(&statement, &[&self.kind, &self.keys, &first, &last])
            .await?;
        let mut positions: Vec<i64> = Vec::new();
        for row in found {
            let (chunk, offsets): (i64, Vec<i16>) = (row.get(0), row.get(1));
            let run = offsets
                .into_iter()
                .map(|offset| chunk * RUN + i64::from(offset));
            positions.extend(run.filter(|p| (lo..hi).contains(p)));
        }
        positions.sort_unstable();
        positions.dedup();
        if self.direction == Direction::Backward {
            positions.reverse();
        }
        Ok(positions)
    }

    /// Reads the candidates' rows in order, in growing slices, keeping those that meet the
    /// filter, until the page is full or the candidates are spent.
    async fn check(
        &self,
        client: &Transaction<'_>,
        candidates: &[i64],
        wanted: &mut Wanted,
    ) -> Result<(), ReadFailure> {
        let n = self.params.len();
        let sql = self.select(&format!("e.position = ANY(${})", n + 1), n + 2);
        let statement = client.prepare_cached(&sql).await?;
        let mut rest = candidates;
        let mut slice = usize::try_from(wanted.limit()).unwrap_or(0) + CANDIDATES_SLACK;
        while !rest.is_empty() && !wanted.full() {
            let (part, after) = rest.split_at(slice.min(rest.len()));
            let part = part.to_vec();
            let limit = wanted.limit();
            let mut params = self.params.to_vec();
            params.extend([&part as &(dyn ToSql + Sync), &limit]);
            let rows = client.query(&statement, &params).await?;
            let short = (rows.len() as i64) < limit;
            let last: Option<i64> = rows.last().map(|row| row.get(0));
            wanted.take(rows);
            rest = match last {
                // Cut at the limit: the slice's candidates after the last row are still to check.
                Some(last) if !short => {
                    let done = part
                        .iter()
                        .position(|p| *p == last)
                        .map_or(part.len(), |i| i + 1);
                    &rest[done..]
                }
                _ => after,
            };
            slice = slice.saturating_mul(2);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The statements of a postings page read `events` by its primary key: the candidates by
    //! position, the unposted events by a range of positions, never by a sequential scan.

    #![allow(clippy::unwrap_used)]

    use annal_core::{Direction, EventType, ExpectedVersion, NewEvent, Store, StreamId};
    use serde_json::json;
    use tokio_postgres::types::ToSql;

    use super::PostingsQuery;
    use crate::PostgresStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_reads_events_by_their_primary_key() {
        let url = annal_testkit::pg_cluster::cluster().fresh_database().await;
        let store = PostgresStore::connect(&url).await.unwrap();
        let batch = (0..2_000)
            .map(|i| NewEvent::new(EventType::new("x:y").unwrap(), json!({})).with_timestamp(i))
            .collect();
        let stream = StreamId::new("s").unwrap();
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute("ANALYZE; SET enable_seqscan = off; SET enable_bitmapscan = off")
            .await
            .unwrap();
        let (types, from): (Vec<i64>, i64) = (vec![1], 10);
        let params: [&(dyn ToSql + Sync); 2] = [&types, &from];
        let query = PostingsQuery {
            kind: 0,
            keys: types.clone(),
            conditions: vec!["e.type_id = ANY($1)".into(), "e.timestamp >= $2".into()],
            params: &params,
            lo: 0,
            hi: i64::MAX,
            posted: 0,
            direction: Direction::Backward,
        };
        let candidates: Vec<i64> = (1..=500).collect();
        let (lo, hi, limit) = (1i64, 600i64, 100i64);
        let statements: [(String, Vec<&(dyn ToSql + Sync)>); 2] = [
            (
                query.select("e.position = ANY($3)", 4),
                vec![&types, &from, &candidates, &limit],
            ),
            (
                query.select("e.position >= $3 AND e.position < $4", 5),
                vec![&types, &from, &lo, &hi, &limit],
            ),
        ];
        for (sql, params) in statements {
            let plan: Vec<String> = client
                .query(format!("EXPLAIN {sql}").as_str(), &params)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            let plan = plan.join("\n");
            assert!(plan.contains("using events_pkey on events e"), "{plan}");
            assert!(!plan.contains("Seq Scan on events "), "{plan}");
        }
    }
}
