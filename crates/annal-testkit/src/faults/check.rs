//! The oracle of the fault and power-loss tests: what a probe process said, and whether the
//! store a reopen finds keeps every promise made to it.
//!
//! A probe (each disk backend's `src/bin/probe.rs`) runs tasks that append batches of events
//! with ids `r<run>-t<task>-b<batch>-<i>` to streams `w<task>`, and prints one line per event:
//!
//! - `ack <stream> <version> <id>...` once a batch is acknowledged;
//! - `error <stream> <kind> <message>` when an append fails, `kind` being `poisoned`,
//!   `storage` (another storage error) or `other` (anything else: a wrong answer to a fault);
//! - `after <stream> <kind> <message>` for the next append after an error (`ok` if it was
//!   acknowledged, which a poisoned store must never do);
//! - `done <stream>` when a task appended all its batches; `open-error <message>` when the
//!   store did not open.
//!
//! Invariant: [`check_store`] fails on any acknowledged event missing, any batch present in
//! part, and any gap in positions or versions; [`Outcome::problems`] fails on a caller left
//! without an answer, a wrong kind of error, and a write accepted after a failure.

use std::collections::{BTreeMap, HashSet};

use annal_core::{Position, ReadStreamOptions, RecordedEvent, Store, StreamId, collect};

/// One acknowledged batch: its stream and the ids of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// The stream appended to.
    pub stream: String,
    /// The ids of the batch's events, in order.
    pub ids: Vec<String>,
}

/// What a probe run said, line by line.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// The batches acknowledged.
    pub acked: Vec<Acked>,
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
                    if ids.len() == batch && ids.iter().all(|id| !id.is_empty()) {
                        outcome.acked.push(Acked { stream: first, ids });
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
    /// streams must have finished or failed, a failure must be a storage error, and the append
    /// after it must be refused as poisoned.
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

/// Checks a reopened store against everything acknowledged so far: every acknowledged id is
/// in its stream, every batch of `batch` events is whole or absent, positions run from 1
/// without a gap, and each stream's versions run from 1 to its counter.
pub async fn check_store(
    store: &dyn Store,
    acknowledged: &[Acked],
    batch: usize,
) -> Result<(), String> {
    let events: Vec<RecordedEvent> = collect(store.read_all(Position::START).await.map_err(e)?)
        .await
        .map_err(e)?;
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    if positions != (1..=events.len() as u64).collect::<Vec<_>>() {
        return Err(format!("positions have gaps: {positions:?}"));
    }
    let stored: HashSet<(String, String)> = events
        .iter()
        .map(|e| (e.aggregate_id.to_string(), e.id.to_string()))
        .collect();
    for acked in acknowledged {
        for id in &acked.ids {
            if !stored.contains(&(acked.stream.clone(), id.clone())) {
                return Err(format!(
                    "acknowledged event {id} of stream {} is missing",
                    acked.stream
                ));
            }
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
    if versions != (1..=versions.len() as u64).collect::<Vec<_>>() {
        return Err(format!("{name}'s versions have gaps: {versions:?}"));
    }
    let counter = store.stream_version(&stream).await.map_err(e)?.0;
    if counter != versions.len() as u64 {
        return Err(format!(
            "{name}'s counter is {counter} but it holds {} events",
            versions.len()
        ));
    }
    Ok(())
}

fn e(error: impl std::fmt::Display) -> String {
    error.to_string()
}
