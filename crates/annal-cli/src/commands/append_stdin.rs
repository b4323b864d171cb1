//! `annal append --stdin`: NDJSON envelopes in, one acknowledgment line out per event, printed
//! as soon as the event is durably committed.
//!
//! Throughput comes from pipelining: up to `IN_FLIGHT_MAX` appends wait for commit at once, so
//! the store's group commit shares one fsync among them. Order is kept per stream: a line whose
//! stream already has an append in flight waits for it, and runs of lines for one stream become
//! one batch. Acknowledgments print in input order, and are flushed whenever the command would
//! otherwise wait for input. On a bad line, every earlier line is committed and acknowledged
//! first, then the error names the line.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use annal_core::{AppendError, AppendResult, EventId, ExpectedVersion, NewEvent, Store, StreamId};
use anyhow::{Context, anyhow};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

use crate::output::Output;

/// Appends waiting for their commit at once.
const IN_FLIGHT_MAX: usize = 2_048;
/// Events merged into one batch from a run of lines for one stream.
const BATCH_EVENTS_MAX: usize = 1_000;

/// One input line: an envelope plus the stream and an optional expectation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    aggregate_id: StreamId,
    #[serde(default)]
    expected_version: Option<serde_json::Value>,
    #[serde(flatten)]
    event: NewEvent,
}

struct Batch {
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    first_line: usize,
}

struct Pending {
    stream: StreamId,
    ids: Vec<String>,
    first_line: usize,
    task: JoinHandle<Result<AppendResult, AppendError>>,
}

/// The appends in flight, oldest first, and which streams they hold.
#[derive(Default)]
struct Pipeline {
    in_flight: VecDeque<Pending>,
    busy: HashMap<StreamId, usize>,
}

pub(crate) async fn run(store: Arc<dyn Store>, out: &mut Output) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut pipeline = Pipeline::default();
    let mut batch: Option<Batch> = None;
    let mut line_number = 0usize;
    let failure = loop {
        if lines.get_ref().buffer().is_empty() {
            // About to wait for input: nothing more can join the batch soon, so send it, and let
            // the reader see every acknowledgment so far.
            if let Some(ready) = batch.take() {
                pipeline.dispatch(&store, ready, out).await?;
            }
            out.flush()?;
        }
        let next = tokio::select! {
            next = lines.next_line() => next,
            result = pipeline.front(), if !pipeline.in_flight.is_empty() => {
                pipeline.finish(result, out)?;
                continue;
            }
        };
        let text = match next {
            Ok(Some(text)) => text,
            Ok(None) => break None,
            Err(error) => {
                break Some(anyhow!(error).context(format!("reading line {}", line_number + 1)));
            }
        };
        line_number += 1;
        if text.trim().is_empty() {
            continue;
        }
        let line = match parse(&text) {
            Ok(line) => line,
            Err(error) => {
                break Some(error.context(format!("line {line_number} of standard input")));
            }
        };
        if let Some(open) = batch.as_mut()
            && open.stream == line.stream
            && line.expected == ExpectedVersion::Any
            && open.events.len() < BATCH_EVENTS_MAX
        {
            open.events.push(line.event);
            continue;
        }
        if let Some(full) = batch.take() {
            pipeline.dispatch(&store, full, out).await?;
        }
        batch = Some(Batch {
            stream: line.stream,
            expected: line.expected,
            events: vec![line.event],
            first_line: line_number,
        });
    };
    if let Some(last) = batch.take() {
        pipeline.dispatch(&store, last, out).await?;
    }
    while !pipeline.in_flight.is_empty() {
        let result = pipeline.front().await;
        pipeline.finish(result, out)?;
    }
    out.flush()?;
    failure.map_or(Ok(()), Err)
}

struct Parsed {
    stream: StreamId,
    expected: ExpectedVersion,
    event: NewEvent,
}

fn parse(text: &str) -> anyhow::Result<Parsed> {
    let line: Line = serde_json::from_str(text).context("not a valid event envelope")?;
    let expected = match line.expected_version {
        None => ExpectedVersion::Any,
        Some(serde_json::Value::Number(n)) => {
            let version = n
                .as_u64()
                .context("expectedVersion must be a whole number")?;
            ExpectedVersion::Exact(annal_core::Version(version))
        }
        Some(serde_json::Value::String(s)) => crate::convert::expected_version(&s)?,
        Some(other) => anyhow::bail!("expectedVersion {other} is not a version"),
    };
    let mut event = line.event;
    // Ids are assigned here rather than in the store so every acknowledgment can name its event.
    event.id.get_or_insert_with(EventId::generate);
    Ok(Parsed {
        stream: line.aggregate_id,
        expected,
        event,
    })
}

type Finished = (Pending, Result<AppendResult, AppendError>);

impl Pipeline {
    /// Starts `batch`, first waiting for any append in flight on its stream (to keep the
    /// stream's order) or for room in the pipeline.
    async fn dispatch(
        &mut self,
        store: &Arc<dyn Store>,
        batch: Batch,
        out: &mut Output,
    ) -> anyhow::Result<()> {
        while self.busy.contains_key(&batch.stream) || self.in_flight.len() >= IN_FLIGHT_MAX {
            let result = self.front().await;
            self.finish(result, out)?;
        }
        let ids = batch
            .events
            .iter()
            .filter_map(|e| e.id.as_ref().map(ToString::to_string))
            .collect();
        *self.busy.entry(batch.stream.clone()).or_default() += 1;
        let store = Arc::clone(store);
        let stream = batch.stream.clone();
        let task =
            tokio::spawn(async move { store.append(&stream, batch.expected, batch.events).await });
        self.in_flight.push_back(Pending {
            stream: batch.stream,
            ids,
            first_line: batch.first_line,
            task,
        });
        Ok(())
    }

    /// Waits for the oldest append in flight (callers check that there is one).
    async fn front(&mut self) -> Option<Finished> {
        let front = self.in_flight.front_mut()?;
        let result = match (&mut front.task).await {
            Ok(result) => result,
            Err(join) => Err(AppendError::Storage(annal_core::StorageError::backend(
                "the append task stopped",
                join,
            ))),
        };
        let pending = self.in_flight.pop_front()?;
        Some((pending, result))
    }

    /// Prints a finished append's acknowledgments, or turns its failure into the command's error
    /// after acknowledging whatever committed after it.
    fn finish(&mut self, finished: Option<Finished>, out: &mut Output) -> anyhow::Result<()> {
        let Some((pending, result)) = finished else {
            return Ok(());
        };
        if let Some(count) = self.busy.get_mut(&pending.stream) {
            *count -= 1;
            if *count == 0 {
                self.busy.remove(&pending.stream);
            }
        }
        match result {
            Ok(result) => print_acks(out, &pending, result),
            Err(error) => {
                out.flush()?;
                let context = format!("line {} of standard input", pending.first_line);
                Err(crate::commands::append::describe(error).context(context))
            }
        }
    }
}

fn print_acks(out: &mut Output, pending: &Pending, result: AppendResult) -> anyhow::Result<()> {
    let count = pending.ids.len() as u64;
    // A batch occupies consecutive positions and versions (an invariant of every backend).
    for (index, id) in pending.ids.iter().enumerate() {
        let index = index as u64;
        out.json_line(&json!({
            "id": id,
            "stream": pending.stream,
            "position": result.first_position.0 + index,
            "version": result.stream_version.0 + 1 + index - count,
        }))?;
    }
    Ok(())
}
