//! The oracle of the fault and power-loss tests: what a probe process said, and whether the
//! store a reopen finds keeps every promise made to it.
//!
//! A probe (each disk backend's `src/bin/probe.rs`) runs tasks that append batches of events
//! with ids `r<run>-t<task>-b<batch>-<i>` to streams `w<task>`, and prints one line per event:
//!
//! - `ack <stream> <version> <id>...` once a batch is acknowledged (`version` is its last);
//! - `trimming <stream> <before>` before a removal of the stream's events before `before`
//!   (always at a batch boundary), and `trim <stream> <before>` once it is acknowledged;
//! - `snapshotting <stream> <version>` before saving a snapshot at `version`, and
//!   `snapshot <stream> <version>` once it is acknowledged;
//! - `error <stream> <kind> <message>` when an append fails, `kind` being `poisoned`,
//!   `storage` (another storage error) or `other` (anything else: a wrong answer to a fault);
//! - `after <stream> <kind> <message>` for the next append after an error (`ok` if it was
//!   acknowledged, which a poisoned store must never do);
//! - `done <stream>` when a task appended all its batches; `open-error <message>` when the
//!   store did not open.
//!
//! Invariant: [`check_store`] fails on any acknowledged event missing, any acknowledged
//! removal undone, any acknowledged snapshot lost or a snapshot ahead of its stream, any batch
//! present in part, and any gap in versions (or in positions, where
//! nothing was removed); [`Outcome::problems`] fails on a caller left
//! without an answer, a wrong kind of error, and a write accepted after a failure.

use std::collections::{BTreeMap, HashSet};

use annal_core::{Position, ReadStreamOptions, RecordedEvent, Store, StreamId, collect};

/// One acknowledged batch: its stream and the ids of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// The stream appended to.
    pub stream: String,
    /// The stream version of the batch's last event.
    pub version: u64,
    /// The ids of the batch's events, in order.
    pub ids: Vec<String>,
}

/// Everything acknowledged to the probes' callers so far: what a reopened store must show.
#[derive(Debug, Default, Clone)]
pub struct Promises {
    /// The acknowledged batches.
    pub acked: Vec<Acked>,
    /// Per stream, the highest acknowledged `before` of a removal: no event of it with a
    /// lower version may be seen again.
    pub floors: BTreeMap<String, u64>,
    /// Per stream, the highest `before` of a removal asked for, acknowledged or not: events
    /// below it may be gone.
    pub may_remove: BTreeMap<String, u64>,
    /// Per stream, the version of the newest acknowledged snapshot: the newest snapshot found
    /// must be at least as new.
    pub snapshots: BTreeMap<String, u64>,
}

impl Promises {
    /// Adds what a probe run had acknowledged.
    pub fn absorb(&mut self, outcome: &Outcome) {
        self.acked.extend(outcome.acked.iter().cloned());
        for (stream, before) in &outcome.trims {
            let floor = self.floors.entry(stream.clone()).or_default();
            *floor = (*floor).max(*before);
        }
        for (stream, version) in &outcome.snapshots {
            let newest = self.snapshots.entry(stream.clone()).or_default();
            *newest = (*newest).max(*version);
        }
        for (stream, before) in outcome.trims.iter().chain(&outcome.trimming) {
            let bound = self.may_remove.entry(stream.clone()).or_default();
            *bound = (*bound).max(*before);
        }
    }
}

/// What a probe run said, line by line.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// The batches acknowledged.
    pub acked: Vec<Acked>,
    /// `(stream, before)` of each acknowledged removal.
    pub trims: Vec<(String, u64)>,
    /// `(stream, before)` of each removal asked for.
    pub trimming: Vec<(String, u64)>,
    /// `(stream, version)` of each acknowledged snapshot.
    pub snapshots: Vec<(String, u64)>,
    /// `(stream, kind, message)` of each failed append.
    pub errors: Vec<(String, String, String)>,
    /// `(stream, kind, message)` of each append tried after a failure.
    pub after: Vec<(String, String, String)>,
    /// Streams whose task appended all its batches.
    pub done: Vec<String>,
    /// The open's error, if the store did not open.
    pub open_error: Option<String>,
}

impl Outcome {
    /// Reads a probe's stdout; a last line cut by a kill is ignored, and an `ack` line only
    /// counts with all `batch` ids (what was cut was never acknowledged to anyone).
    pub fn parse(stdout: &str, batch: usize) -> Self {
        let mut outcome = Self::default();
        for line in stdout.lines() {
            let mut words = line.splitn(4, ' ');
            let tag = words.next().unwrap_or("");
            let first = words.next().unwrap_or("").to_owned();
            let second = words.next().unwrap_or("").to_owned();
            let rest = words.next().unwrap_or("").to_owned();
            match tag {
                "ack" => {
                    let ids: Vec<String> = rest.split(' ').map(str::to_owned).collect();
                    let version = second.parse().ok();
                    if let Some(version) = version
                        && ids.len() == batch
                        && ids.iter().all(|id| !id.is_empty())
                    {
                        outcome.acked.push(Acked {
                            stream: first,
                            version,
                            ids,
                        });
                    }
                }
                "trim" | "trimming" | "snapshot" => {
                    if let Ok(version) = second.trim().parse() {
                        let list = match tag {
                            "trim" => &mut outcome.trims,
                            "trimming" => &mut outcome.trimming,
                            _ => &mut outcome.snapshots,
                        };
                        list.push((first, version));
                    }
                }
                "error" => outcome.errors.push((first, second, rest)),
                "after" => outcome.after.push((first, second, rest)),
                "done" => outcome.done.push(first),
                "open-error" => {
                    outcome.open_error = Some(line.trim_start_matches("open-error ").to_owned());
                }
                _ => {}
            }
        }
        outcome
    }

    /// The broken promises of a run that ended on its own (not killed): each of `tasks`
    /// streams must have finished or failed, a failure must be a storage error naming its
    /// cause, and the append after it must be refused as poisoned.
    pub fn problems(&self, tasks: u64) -> Vec<String> {
        let mut problems = Vec::new();
        if self.open_error.is_some() {
            return problems;
        }
        for task in 0..tasks {
            let stream = format!("w{task}");
            let done = self.done.contains(&stream);
            let error = self.errors.iter().find(|(s, ..)| *s == stream);
            let after = self.after.iter().find(|(s, ..)| *s == stream);
            match (done, error, after) {
                (true, None, None) => {}
                (false, Some((_, kind, message)), Some((_, after_kind, after_message))) => {
                    if kind == "other" {
                        problems.push(format!("{stream}: a fault was answered with {message}"));
                    } else if !names_the_cause(message) {
                        problems.push(format!(
                            "{stream}: the error does not name the failing call: {message}"
                        ));
                    }
                    if after_kind != "poisoned" {
                        problems.push(format!(
                            "{stream}: after the failure ({message}), the next append got \
                             {after_kind}: {after_message}; a store must refuse writes as \
                             poisoned until reopened"
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{stream}: no clear end (done {done}, error {error:?}, after {after:?})"
                )),
            }
        }
        problems
    }
}

/// Whether an error message carries the system's or SQLite's words for the injected failure, so
/// the caller can tell a full disk from a failing one.
fn names_the_cause(message: &str) -> bool {
    const CAUSES: [&str; 4] = [
        "os error",
        "disk I/O error",
        "disk is full",
        "unable to open",
    ];
    CAUSES.iter().any(|cause| message.contains(cause))
}

/// Checks a reopened store against everything acknowledged: every acknowledged id is in its
/// stream unless a removal asked for covers it, no removed version is seen again, every
/// batch of `batch` events is whole or absent, positions increase (from 1 without a gap while
/// nothing was removed), and each stream's versions run without a gap up to its counter.
pub async fn check_store(
    store: &dyn Store,
    promises: &Promises,
    batch: usize,
) -> Result<(), String> {
    let events: Vec<RecordedEvent> = collect(store.read_all(Position::START).await.map_err(e)?)
        .await
        .map_err(e)?;
    check_positions(&events, promises.may_remove.is_empty())?;
    let stored: HashSet<(String, String)> = events
        .iter()
        .map(|e| (e.aggregate_id.to_string(), e.id.to_string()))
        .collect();
    for acked in &promises.acked {
        let bound = promises.may_remove.get(&acked.stream).copied().unwrap_or(0);
        for id in &acked.ids {
            let present = stored.contains(&(acked.stream.clone(), id.clone()));
            if acked.version >= bound && !present {
                return Err(format!(
                    "acknowledged event {id} of stream {} is missing",
                    acked.stream
                ));
            }
        }
    }
    for event in &events {
        let floor = promises.floors.get(event.aggregate_id.as_str()).copied();
        if floor.is_some_and(|floor| event.version.0 < floor) {
            return Err(format!(
                "event {} (version {}) of stream {} is back after its acknowledged removal \
                 before version {}",
                event.id,
                event.version.0,
                event.aggregate_id,
                floor.unwrap_or(0)
            ));
        }
    }
    let mut batches: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        let id = event.id.as_str();
        let prefix = id.rsplit_once('-').map_or(id, |(prefix, _)| prefix);
        *batches.entry(prefix.to_owned()).or_default() += 1;
    }
    if let Some((prefix, n)) = batches.iter().find(|(_, n)| **n != batch) {
        return Err(format!("batch {prefix} holds {n} of its {batch} events"));
    }
    let streams: BTreeMap<String, ()> = events
        .iter()
        .map(|e| (e.aggregate_id.to_string(), ()))
        .collect();
    for name in streams.keys() {
        check_stream(store, name).await?;
    }
    for (name, acked) in &promises.snapshots {
        check_snapshot(store, name, *acked).await?;
    }
    Ok(())
}

/// The newest snapshot of `name` is at least as new as the acknowledged one, and no newer
/// than the stream.
async fn check_snapshot(store: &dyn Store, name: &str, acked: u64) -> Result<(), String> {
    let stream = StreamId::new(name).map_err(e)?;
    let found = store.load_snapshot(&stream).await.map_err(e)?;
    let version = found.map(|snapshot| snapshot.version.0);
    if version.is_none_or(|version| version < acked) {
        return Err(format!(
            "the snapshot of {name} at version {acked} was acknowledged, the newest found is \
             {version:?}"
        ));
    }
    let counter = store.stream_version(&stream).await.map_err(e)?.0;
    if version.is_some_and(|version| version > counter) {
        return Err(format!(
            "the snapshot of {name} is at version {version:?}, beyond the stream's {counter}"
        ));
    }
    Ok(())
}

fn check_positions(events: &[RecordedEvent], gap_free: bool) -> Result<(), String> {
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    let ordered = positions.windows(2).all(|pair| pair[0] < pair[1]);
    let whole = positions == (1..=events.len() as u64).collect::<Vec<_>>();
    if !ordered || (gap_free && !whole) {
        return Err(format!(
            "positions are out of order or have gaps: {positions:?}"
        ));
    }
    Ok(())
}

async fn check_stream(store: &dyn Store, name: &str) -> Result<(), String> {
    let stream = StreamId::new(name).map_err(e)?;
    let read = store
        .read_stream(&stream, ReadStreamOptions::forward())
        .await
        .map_err(e)?;
    let versions: Vec<u64> = collect(read)
        .await
        .map_err(e)?
        .iter()
        .map(|e| e.version.0)
        .collect();
    let first = versions.first().copied().unwrap_or(1);
    if versions != (first..first + versions.len() as u64).collect::<Vec<_>>() {
        return Err(format!("{name}'s versions have gaps: {versions:?}"));
    }
    let counter = store.stream_version(&stream).await.map_err(e)?.0;
    let last = versions.last().copied().unwrap_or(0);
    if counter != last {
        return Err(format!(
            "{name}'s counter is {counter} but its last event has version {last}"
        ));
    }
    Ok(())
}

fn e(error: impl std::fmt::Display) -> String {
    error.to_string()
}
