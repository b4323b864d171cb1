//! `annal append --stdin`: NDJSON envelopes in, one acknowledgment line out per event, printed
//! as soon as the event is durably committed.
//!
//! Throughput comes from batching per stream and pipelining. Lines are queued per stream; a
//! stream has at most one append in flight, and while it is in flight the stream's later lines
//! gather into its next batch (up to `BATCH_EVENTS_MAX` events and the store's default byte
//! limit). Queued batches are sent in sweeps: every `SWEEP_LINES` lines the idle streams whose
//! batch reached `STREAM_BATCH_MIN` events go, and whenever nothing is in flight (or reading is
//! paused) every queued batch goes. So the store's group commit receives many streams' batches
//! at once and writes each stream's index tail once for many events. Reading pauses while
//! `LINES_MAX` lines or `HELD_BYTES_MAX` bytes of them wait for their acknowledgment.
//!
//! Acknowledgments print in input order, and are flushed whenever the command would otherwise
//! wait for input. Blank lines (whitespace only, `\r` included) are skipped but counted.
//!
//! A line that cannot be read (over `input::LINE_BYTES_MAX` bytes, not UTF-8) or parsed, or
//! that the store refuses, stops the command: nothing more is read, no later line of the
//! refused line's stream is sent, every earlier line is committed and acknowledged, and then
//! the error names the refused line. Lines of other streams after it that were already in
//! flight still commit, without an acknowledgment.
//!
//! Re-running is safe for lines that carry ids: sending the same input again, whole or after
//! fixing the line that stopped an earlier run, is an idempotent retry. The batches a re-run
//! forms depend on timing, so a batch the store refuses for stored ids is sent again as sub-batches
//! down to single lines (`send`); a line whose id is stored in its stream is acknowledged with
//! the stored position and version, so is a line repeating an earlier line's id in the same
//! stream. An id used in two streams refuses the later line, even while the earlier one is
//! still in flight. A line without an id gets a fresh one each run and is appended again.
//!
//! A closed standard output (`annal append --stdin < events | head -1`) does not stop the
//! command: acknowledgments stop printing, every line is still read and appended, and the exit
//! status says whether all were. Any other failure to write standard output stops reading; the
//! lines read so far are still committed.
//!
//! Invariant: per-stream order is input order (one append in flight per stream, batches
//! dispatched oldest first, a batch's sub-batches sent in order), and a committed line's
//! acknowledgment is its own event's position and version.

mod input;
mod send;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use annal_core::{AppendError, EventId, Limits, Position, Store, StreamId, Version};
use anyhow::anyhow;
use tokio::io::BufReader;
use tokio::task::JoinSet;

use crate::output::{Output, is_broken_pipe};
pub(crate) use input::parse;
use input::{LineReader, Parsed};
use send::{Batch, BatchLine, Outcome, send};

/// Lines read but not yet acknowledged; reading pauses at this many (bounds memory).
const LINES_MAX: usize = 65_536;
/// Bytes of the lines read but not yet acknowledged; reading pauses past this (bounds memory
/// whatever the line lengths).
const HELD_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Lines read between two sweeps that send the idle streams' batches that are big enough.
const SWEEP_LINES: usize = 1_024;
/// Events a stream's batch gathers before a sweep sends it while other appends are in flight.
/// Each commit rewrites the index page at the end of every stream it touches, so events per
/// stream per commit is what sets the bytes written per event; small groups per stream
/// measured far slower (figures in `BENCHMARKS.md`, "Figures behind constants in the code").
const STREAM_BATCH_MIN: usize = 32;
/// Events in one batch of one stream.
const BATCH_EVENTS_MAX: usize = 1_000;
/// Input buffer: large, so that "the buffer is empty" means the writer of stdin is slower than
/// us, not that 8 KiB went by.
const INPUT_BUFFER_BYTES: usize = 1 << 20;

#[derive(Default)]
struct StreamQueue {
    batches: VecDeque<Batch>,
    in_flight: bool,
}

/// One input line waiting for its acknowledgment.
struct Slot {
    number: usize,
    stream: StreamId,
    id: EventId,
    /// Its position and version, once committed.
    ack: Option<(Position, Version)>,
}

/// The line that stopped the command, and why.
struct Failure {
    line: usize,
    error: anyhow::Error,
}

struct Pipeline {
    store: Arc<dyn Store>,
    /// The most bytes a batch gathers: the store's default limit, counted generously (a
    /// line's text is at least as long as its event's compact JSON, give or take escapes; a
    /// store that still refuses a batch gets it again as sub-batches).
    batch_bytes_max: usize,
    streams: HashMap<StreamId, StreamQueue>,
    in_flight: JoinSet<Outcome>,
    /// Lines waiting for their acknowledgment, in input order; the first is `first_seq`.
    slots: VecDeque<Slot>,
    first_seq: u64,
    held_bytes: usize,
    /// The ids of the lines waiting for their acknowledgment, with their stream and line (the
    /// first) and how many lines carry each (a repeat in the same stream is a retry).
    pending_ids: HashMap<EventId, (StreamId, usize, u32)>,
    /// Lines read so far (blank ones included).
    lines_read: usize,
    failure: Option<Failure>,
    output_closed: bool,
}

pub(crate) async fn run(store: Arc<dyn Store>, out: &mut Output) -> anyhow::Result<()> {
    let stdin = BufReader::with_capacity(INPUT_BUFFER_BYTES, tokio::io::stdin());
    let mut reader = LineReader::new(stdin);
    let mut pipeline = Pipeline::new(store);
    let mut since_sweep = 0usize;
    let mut input_open = true;
    loop {
        if pipeline.in_flight.is_empty() {
            pipeline.sweep(1);
        }
        if input_open && reader.input().buffer().is_empty() {
            // About to wait for input: let the reader see every acknowledgment so far.
            pipeline.flush(out);
        }
        let reading = input_open && pipeline.failure.is_none() && pipeline.has_room();
        if !reading && pipeline.in_flight.is_empty() {
            break;
        }
        tokio::select! {
            next = reader.next_line(), if reading => {
                let line_number = pipeline.lines_read + 1;
                let text = match next {
                    Ok(Some(text)) => text,
                    Ok(None) => {
                        input_open = false;
                        continue;
                    }
                    Err(error) => {
                        pipeline.fail(line_number, error);
                        continue;
                    }
                };
                pipeline.lines_read = line_number;
                if text.trim().is_empty() {
                    continue;
                }
                match parse(&text, None) {
                    Ok(parsed) => pipeline.queue(parsed, line_number, text),
                    Err(error) => {
                        pipeline.fail(line_number, error);
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
                let outcome = finished.map_err(|join| {
                    anyhow!(join).context("an append task stopped")
                })?;
                pipeline.finish(outcome);
                if !reading {
                    // Nothing new arrives to trigger a sweep: send what gathered meanwhile.
                    pipeline.sweep(1);
                }
                pipeline.acknowledge(out);
            }
        }
    }
    pipeline.acknowledge(out);
    pipeline.flush(out);
    pipeline.into_result()
}

/// The error of a refused line, worded for a line rather than a batch (the store's index into
/// the batch means nothing to the reader of the input).
fn describe(error: AppendError) -> anyhow::Error {
    match error {
        AppendError::InvalidEvent { reason, .. } => {
            anyhow::Error::new(reason).context("append refused")
        }
        error => crate::commands::append::describe(error),
    }
}

impl Pipeline {
    fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            batch_bytes_max: Limits::default().batch_bytes_max,
            streams: HashMap::new(),
            in_flight: JoinSet::new(),
            slots: VecDeque::new(),
            first_seq: 0,
            held_bytes: 0,
            pending_ids: HashMap::new(),
            lines_read: 0,
            failure: None,
            output_closed: false,
        }
    }

    fn has_room(&self) -> bool {
        self.slots.len() < LINES_MAX && self.held_bytes < HELD_BYTES_MAX
    }

    /// Queues a line on its stream: into the stream's last queued batch when it can join it
    /// (no expectation of its own, room left), else as a new batch.
    fn queue(&mut self, line: Parsed, number: usize, text: String) {
        let Parsed {
            stream,
            expected,
            event,
        } = line;
        let Some(id) = event.id.clone() else {
            // `parse` gives every event an id; a line without one cannot be acknowledged.
            self.fail(number, anyhow!("the line's event has no id"));
            return;
        };
        if let Some((other, first, _)) = self.pending_ids.get(&id)
            && *other != stream
        {
            // Decided here, not by the store: streams are sent concurrently, so the store
            // would refuse whichever of the two lines commits second.
            let error = anyhow!("event id {id} is already used by line {first} in stream {other}");
            self.fail(number, error.context("append refused"));
            return;
        }
        self.pending_ids
            .entry(id.clone())
            .or_insert_with(|| (stream.clone(), number, 0))
            .2 += 1;
        let seq = self.first_seq + self.slots.len() as u64;
        self.slots.push_back(Slot {
            number,
            stream: stream.clone(),
            id: id.clone(),
            ack: None,
        });
        let bytes = text.len();
        self.held_bytes += bytes;
        let line = BatchLine {
            seq,
            number,
            text,
            id,
        };
        let batch_bytes_max = self.batch_bytes_max;
        let queue = self.streams.entry(stream).or_default();
        let joins = expected == annal_core::ExpectedVersion::Any
            && queue.batches.back().is_some_and(|last| {
                last.events.len() < BATCH_EVENTS_MAX && last.bytes + bytes <= batch_bytes_max
            });
        match queue.batches.back_mut() {
            Some(last) if joins => {
                last.events.push(event);
                last.lines.push(line);
                last.bytes += bytes;
            }
            _ => queue.batches.push_back(Batch {
                expected,
                events: vec![event],
                lines: vec![line],
                bytes,
            }),
        }
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
            let task = send(Arc::clone(&self.store), stream.clone(), batch);
            self.in_flight.spawn(task);
        }
    }

    /// Records a finished batch: its committed lines' acknowledgments, its failure if any, and
    /// frees its stream for the next batch.
    fn finish(&mut self, outcome: Outcome) {
        if let Some(queue) = self.streams.get_mut(&outcome.stream) {
            queue.in_flight = false;
            if queue.batches.is_empty() {
                self.streams.remove(&outcome.stream);
            }
        }
        for line in &outcome.lines {
            self.held_bytes -= line.text.len();
        }
        assert!(
            outcome.committed.len() <= outcome.lines.len(),
            "the committed lines are a prefix of the batch"
        );
        for (line, ack) in outcome.lines.iter().zip(&outcome.committed) {
            let index = line.seq.checked_sub(self.first_seq);
            let slot = index.and_then(|index| self.slots.get_mut(usize::try_from(index).ok()?));
            if let Some(slot) = slot {
                debug_assert!(slot.ack.is_none(), "a line is acknowledged once");
                slot.ack = Some(*ack);
            }
        }
        if let Some((index, error)) = outcome.failure {
            let line = outcome.lines.get(index).map_or(0, |line| line.number);
            self.fail(line, describe(error));
        }
    }

    /// Stops at `line`, unless an earlier line already failed: nothing more is read, and the
    /// queued lines from `line` on are dropped (each stream's queue is in input order). Queued
    /// lines before it are still sent.
    fn fail(&mut self, line: usize, error: anyhow::Error) {
        if self
            .failure
            .as_ref()
            .is_some_and(|failure| failure.line <= line)
        {
            return;
        }
        self.failure = Some(Failure { line, error });
        for queue in self.streams.values_mut() {
            for batch in &mut queue.batches {
                let keep = batch.lines.partition_point(|queued| queued.number < line);
                for dropped in &batch.lines[keep..] {
                    self.held_bytes -= dropped.text.len();
                }
                batch.lines.truncate(keep);
                batch.events.truncate(keep);
            }
            queue.batches.retain(|batch| !batch.lines.is_empty());
        }
        self.streams
            .retain(|_, queue| queue.in_flight || !queue.batches.is_empty());
    }

    /// Prints the acknowledgments that are next in input order and ready, up to the failed
    /// line if there is one.
    fn acknowledge(&mut self, out: &mut Output) {
        while let Some(slot) = self.slots.front() {
            if self.failure.as_ref().is_some_and(|f| slot.number >= f.line) {
                return;
            }
            let Some((position, version)) = slot.ack else {
                return;
            };
            if !self.output_closed {
                let ack = Ack {
                    id: slot.id.as_str(),
                    position: position.0,
                    stream: slot.stream.as_str(),
                    version: version.0,
                };
                if let Err(error) = out.json_line(&ack) {
                    self.output_failed(error);
                }
            }
            if let Some(slot) = self.slots.pop_front()
                && let Some(entry) = self.pending_ids.get_mut(&slot.id)
            {
                entry.2 -= 1;
                if entry.2 == 0 {
                    self.pending_ids.remove(&slot.id);
                }
            }
            self.first_seq += 1;
        }
    }

    fn flush(&mut self, out: &mut Output) {
        if !self.output_closed
            && let Err(error) = out.flush()
        {
            self.output_failed(error);
        }
    }

    /// A closed standard output stops the acknowledgments only; any other failure to write
    /// them also stops reading.
    fn output_failed(&mut self, error: anyhow::Error) {
        self.output_closed = true;
        if !is_broken_pipe(&error) {
            let next = self.lines_read + 1;
            let context =
                format!("writing acknowledgments; input from line {next} on was not read");
            self.fail(next, error.context(context));
        }
    }

    /// The command's outcome once nothing is in flight.
    fn into_result(mut self) -> anyhow::Result<()> {
        let unacknowledged = self.slots.pop_front().filter(|slot| {
            self.failure
                .as_ref()
                .is_none_or(|failure| slot.number < failure.line)
        });
        if let Some(slot) = unacknowledged {
            // Every line before the failure was sent, and a send ends with each of its lines
            // committed or failed: reaching this is a defect of the pipeline.
            anyhow::bail!(
                "line {} of standard input was neither committed nor refused",
                slot.number
            );
        }
        match self.failure {
            Some(Failure { line, error }) => {
                Err(error.context(format!("line {line} of standard input")))
            }
            None => Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use annal_core::MemoryStore;

    use super::*;

    #[test]
    fn a_streams_batch_is_bounded_in_bytes_and_events() {
        let mut pipeline = Pipeline::new(Arc::new(MemoryStore::new()));
        pipeline.batch_bytes_max = 1_000;
        for n in 0..10 {
            let text = format!(
                "{{\"aggregateId\":\"s\",\"type\":\"note:added\",\"payload\":{{\"x\":\"{}\"}}}}",
                "x".repeat(300)
            );
            pipeline.queue(parse(&text, None).unwrap(), n + 1, text);
        }
        let sizes: Vec<usize> = pipeline.streams[&StreamId::new("s").unwrap()]
            .batches
            .iter()
            .map(|batch| batch.events.len())
            .collect();
        assert_eq!(sizes, vec![2, 2, 2, 2, 2], "each line is over 330 bytes");
        let mut pipeline = Pipeline::new(Arc::new(MemoryStore::new()));
        for n in 0..2_500 {
            let text = "{\"aggregateId\":\"s\",\"type\":\"a:b\",\"payload\":{}}".to_owned();
            pipeline.queue(parse(&text, None).unwrap(), n + 1, text);
        }
        let queue = &pipeline.streams[&StreamId::new("s").unwrap()];
        let sizes: Vec<usize> = queue
            .batches
            .iter()
            .map(|batch| batch.events.len())
            .collect();
        assert_eq!(sizes, vec![1_000, 1_000, 500]);
    }
}
