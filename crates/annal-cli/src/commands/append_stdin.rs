//! `annal append --stdin`: NDJSON envelopes in, one acknowledgment line out per event, printed
//! as soon as the event is durably committed.
//!
//! Throughput comes from batching per stream and pipelining. Lines are queued per stream; a
//! stream has at most one append in flight, and while it is in flight the stream's later lines
//! gather into its next batch. Queued batches are sent in sweeps: every `SWEEP_LINES` lines
//! the idle streams whose batch reached `STREAM_BATCH_MIN` events go, and whenever nothing is in
//! flight (or reading is paused) every queued batch goes. So the store's group commit receives
//! many streams' batches at once and writes each stream's index tail once for many events.
//!
//! Acknowledgments print in input order, and are flushed whenever the command would otherwise
//! wait for input. On a bad line nothing after it is read: every earlier line is committed and
//! acknowledged first, then the error names the line.
//!
//! Invariant: per-stream order is input order (one append in flight per stream, batches
//! dispatched oldest first), and a batch occupies consecutive positions and versions, from
//! which each line's acknowledgment is derived.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use annal_core::{
    AggregateType, AppendError, AppendResult, EventId, EventType, ExpectedVersion, NewEvent, Store,
    StreamId, Version,
};
use anyhow::{Context, anyhow};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinSet;

use crate::output::Output;

/// Lines read but not yet acknowledged; reading pauses at this many (bounds memory).
const LINES_MAX: usize = 65_536;
/// Lines read between two sweeps that send the idle streams' batches that are big enough.
const SWEEP_LINES: usize = 1_024;
/// Events a stream's batch gathers before a sweep sends it while other appends are in flight.
/// Each commit rewrites the index page at the end of every stream it touches, so events per
/// stream per commit is what sets the bytes written per event (wl1 over 1,000 streams: groups
/// of about 9 events per stream ran at 57 k events/s, of 32 or more at the figure in
/// `BENCHMARKS.md`).
const STREAM_BATCH_MIN: usize = 32;
/// Events in one batch of one stream.
const BATCH_EVENTS_MAX: usize = 1_000;
/// Input buffer: large, so that "the buffer is empty" means the writer of stdin is slower than
/// us, not that 8 KiB went by.
const INPUT_BUFFER_BYTES: usize = 1 << 20;

/// One input line: an envelope plus the stream and an optional expectation. The envelope's
/// fields are spelled out rather than flattened from [`NewEvent`]: serde's `flatten` buffers
/// every field through an intermediate tree, which was the largest cost of reading a line.
/// Unknown fields (such as a `version` a reader printed) are ignored, as before.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    aggregate_id: StreamId,
    #[serde(default)]
    expected_version: Option<serde_json::Value>,
    #[serde(default)]
    id: Option<EventId>,
    #[serde(rename = "type")]
    event_type: EventType,
    #[serde(default)]
    aggregate_type: Option<AggregateType>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    source: String,
    payload: serde_json::Value,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    causation_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

pub(super) struct Parsed {
    pub(super) stream: StreamId,
    pub(super) expected: ExpectedVersion,
    pub(super) event: NewEvent,
}

/// A batch of one stream waiting for its turn.
struct Queued {
    ticket: u64,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    first_line: usize,
}

#[derive(Default)]
struct StreamQueue {
    batches: VecDeque<Queued>,
    in_flight: bool,
}

/// One input line waiting for its acknowledgment.
struct Slot {
    ticket: u64,
    id: String,
}

/// What a finished batch needs to acknowledge its lines.
struct Done {
    stream: StreamId,
    result: Result<AppendResult, AppendError>,
    first_line: usize,
    n_events: u64,
    /// Lines of the batch acknowledged so far.
    acknowledged: u64,
}

type Finished = (u64, StreamId, usize, u64, Result<AppendResult, AppendError>);

struct Pipeline {
    store: Arc<dyn Store>,
    streams: HashMap<StreamId, StreamQueue>,
    in_flight: JoinSet<Finished>,
    slots: VecDeque<Slot>,
    done: HashMap<u64, Done>,
    next_ticket: u64,
}

pub(crate) async fn run(store: Arc<dyn Store>, out: &mut Output) -> anyhow::Result<()> {
    let mut lines = BufReader::with_capacity(INPUT_BUFFER_BYTES, tokio::io::stdin()).lines();
    let mut pipeline = Pipeline {
        store,
        streams: HashMap::new(),
        in_flight: JoinSet::new(),
        slots: VecDeque::new(),
        done: HashMap::new(),
        next_ticket: 0,
    };
    let mut line_number = 0usize;
    let mut since_sweep = 0usize;
    let mut input_open = true;
    let mut failure: Option<anyhow::Error> = None;
    loop {
        if pipeline.in_flight.is_empty() {
            pipeline.sweep(1);
        }
        if input_open && lines.get_ref().buffer().is_empty() {
            // About to wait for input: let the reader see every acknowledgment so far.
            out.flush()?;
        }
        let reading = input_open && failure.is_none() && pipeline.slots.len() < LINES_MAX;
        if !reading && pipeline.in_flight.is_empty() {
            break;
        }
        tokio::select! {
            next = lines.next_line(), if reading => {
                let text = match next {
                    Ok(Some(text)) => text,
                    Ok(None) => {
                        input_open = false;
                        continue;
                    }
                    Err(error) => {
                        let context = format!("reading line {}", line_number + 1);
                        failure = Some(anyhow!(error).context(context));
                        continue;
                    }
                };
                line_number += 1;
                if text.trim().is_empty() {
                    continue;
                }
                match parse(&text) {
                    Ok(line) => pipeline.queue(line, line_number),
                    Err(error) => {
                        failure = Some(error.context(format!("line {line_number} of standard input")));
                        continue;
                    }
                }
                since_sweep += 1;
                if since_sweep >= SWEEP_LINES {
                    since_sweep = 0;
                    pipeline.sweep(STREAM_BATCH_MIN);
                }
            }
            finished = pipeline.in_flight.join_next(), if !pipeline.in_flight.is_empty() => {
                let Some(finished) = finished else { continue };
                let finished = finished.map_err(|join| {
                    anyhow!(join).context("an append task stopped")
                })?;
                pipeline.finish(finished);
                if !reading {
                    // Nothing new arrives to trigger a sweep: send what gathered meanwhile.
                    pipeline.sweep(1);
                }
                if let Err(error) = pipeline.acknowledge(out) {
                    // Lines after the failed one are not read; what is in flight still commits
                    // and is waited for, but only lines before the failure are acknowledged.
                    // This failure is earlier in the input than any unreadable line.
                    failure = Some(error);
                    pipeline.stop_after_failure();
                }
            }
        }
    }
    pipeline.acknowledge(out).or_else(|error| match &failure {
        Some(_) => Ok(()),
        None => Err(error),
    })?;
    out.flush()?;
    failure.map_or(Ok(()), Err)
}

pub(super) fn parse(text: &str) -> anyhow::Result<Parsed> {
    let line: Line = serde_json::from_str(text).context("not a valid event envelope")?;
    let expected = match line.expected_version {
        None => ExpectedVersion::Any,
        Some(serde_json::Value::Number(n)) => {
            let version = n
                .as_u64()
                .context("expectedVersion must be a whole number")?;
            ExpectedVersion::Exact(Version(version))
        }
        Some(serde_json::Value::String(s)) => crate::convert::expected_version(&s)?,
        Some(other) => anyhow::bail!("expectedVersion {other} is not a version"),
    };
    let mut event = NewEvent::new(line.event_type, line.payload);
    // Ids are assigned here rather than in the store so every acknowledgment can name its event.
    event.id = Some(line.id.unwrap_or_else(EventId::generate));
    event.aggregate_type = line.aggregate_type;
    event.timestamp = line.timestamp;
    event.source = line.source;
    event.metadata = line.metadata;
    event.causation_id = line.causation_id;
    event.correlation_id = line.correlation_id;
    Ok(Parsed {
        stream: line.aggregate_id,
        expected,
        event,
    })
}

impl Pipeline {
    /// Queues a line on its stream: into the stream's last queued batch when it can join it
    /// (no expectation of its own, room left), else as a new batch.
    fn queue(&mut self, line: Parsed, line_number: usize) {
        let id = line
            .event
            .id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let queue = self.streams.entry(line.stream.clone()).or_default();
        let joins = line.expected == ExpectedVersion::Any
            && queue
                .batches
                .back()
                .is_some_and(|last| last.events.len() < BATCH_EVENTS_MAX);
        let ticket = match queue.batches.back_mut() {
            Some(last) if joins => {
                last.events.push(line.event);
                last.ticket
            }
            _ => {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                queue.batches.push_back(Queued {
                    ticket,
                    expected: line.expected,
                    events: vec![line.event],
                    first_line: line_number,
                });
                ticket
            }
        };
        self.slots.push_back(Slot { ticket, id });
    }

    /// Sends the oldest queued batch of every stream that has none in flight, if the batch has
    /// `events_min` events or can grow no more (a later batch of the stream is queued, or it is
    /// full).
    fn sweep(&mut self, events_min: usize) {
        for (stream, queue) in &mut self.streams {
            if queue.in_flight {
                continue;
            }
            let ready = queue.batches.len() > 1
                || queue
                    .batches
                    .front()
                    .is_some_and(|front| front.events.len() >= events_min.min(BATCH_EVENTS_MAX));
            if !ready {
                continue;
            }
            let Some(batch) = queue.batches.pop_front() else {
                continue;
            };
            queue.in_flight = true;
            let stream = stream.clone();
            let store = Arc::clone(&self.store);
            let n_events = batch.events.len() as u64;
            self.in_flight.spawn(async move {
                let result = store.append(&stream, batch.expected, batch.events).await;
                (batch.ticket, stream, batch.first_line, n_events, result)
            });
        }
    }

    /// Records a finished batch and frees its stream for the next one.
    fn finish(&mut self, (ticket, stream, first_line, n_events, result): Finished) {
        if let Some(queue) = self.streams.get_mut(&stream) {
            queue.in_flight = false;
            if queue.batches.is_empty() {
                self.streams.remove(&stream);
            }
        }
        self.done.insert(
            ticket,
            Done {
                stream,
                result,
                first_line,
                n_events,
                acknowledged: 0,
            },
        );
    }

    /// After a failure: sends nothing more (queued batches hold only later lines' events of
    /// streams still in flight, or lines after the failed one).
    fn stop_after_failure(&mut self) {
        self.streams.clear();
    }

    /// Prints the acknowledgments that are next in input order and ready; a failed batch at the
    /// front becomes the command's error.
    fn acknowledge(&mut self, out: &mut Output) -> anyhow::Result<()> {
        while let Some(slot) = self.slots.front() {
            let Some(done) = self.done.get_mut(&slot.ticket) else {
                return Ok(());
            };
            let result = match &done.result {
                Ok(result) => *result,
                Err(_) => {
                    let ticket = slot.ticket;
                    let Some(failed) = self.done.remove(&ticket) else {
                        return Ok(());
                    };
                    self.slots.clear();
                    out.flush()?;
                    let context = format!("line {} of standard input", failed.first_line);
                    let error = match failed.result {
                        Err(error) => error,
                        Ok(_) => return Ok(()),
                    };
                    return Err(crate::commands::append::describe(error).context(context));
                }
            };
            // A batch occupies consecutive positions and versions (an invariant of every backend).
            let index = done.acknowledged;
            let version = result.stream_version.0 + 1 + index - done.n_events;
            out.json_line(&Ack {
                id: &slot.id,
                stream: done.stream.as_str(),
                position: result.first_position.0 + index,
                version,
            })?;
            done.acknowledged += 1;
            if done.acknowledged == done.n_events {
                self.done.remove(&slot.ticket);
            }
            self.slots.pop_front();
        }
        Ok(())
    }
}

/// One acknowledgment line (keys in the order earlier releases printed them).
#[derive(serde::Serialize)]
struct Ack<'a> {
    id: &'a str,
    position: u64,
    stream: &'a str,
    version: u64,
}
