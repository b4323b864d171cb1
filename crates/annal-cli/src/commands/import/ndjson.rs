//! Importing annal's own NDJSON export: one recorded event per line.
//!
//! Keeps ids, streams, the order of versions, timestamps, metadata and causation/correlation
//! ids; versions and positions are the new store's. A bad line is reported by number and
//! skipped; a torn last line (no newline, not JSON) is reported as such.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use annal_core::{AppendError, ExpectedVersion, NewEvent, RecordedEvent, Store};
use anyhow::Context;

use super::lines::{LINE_BYTES_MAX, Lines};
use super::report::Report;
use crate::commands::transfer::progress;
use crate::output::Output;

/// An opened NDJSON file.
pub(crate) struct NdjsonFile {
    path: PathBuf,
    file: std::fs::File,
}

pub(crate) fn open(path: &Path) -> anyhow::Result<NdjsonFile> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(NdjsonFile {
        path: path.to_owned(),
        file,
    })
}

pub(crate) async fn import(
    store: &dyn Store,
    source: NdjsonFile,
    out: &Output,
) -> anyhow::Result<Report> {
    let NdjsonFile { path, file } = source;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(out, size, "importing");
    // The newest position this import has seen: a stored id (from before the import, or
    // repeated within its input) is answered with a position at or below it.
    let mut newest = store.head().await?;
    let mut lines = Lines::new(BufReader::new(file), LINE_BYTES_MAX);
    let mut report = Report::new("ndjson");
    loop {
        let next = lines
            .next_line()
            .with_context(|| format!("reading {}", path.display()))?;
        let Some(line) = next else {
            break;
        };
        let line_number = line.number;
        bar.inc(line.read);
        let text = match line.text {
            Ok(text) => text,
            Err(reason) => {
                report
                    .skipped_bad
                    .push(format!("line {line_number}: not an annal event: {reason}"));
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let torn = line.torn;
        let event: RecordedEvent = match serde_json::from_str(text.trim_end()) {
            Ok(event) => event,
            Err(error) if torn => {
                report.skipped_bad.push(format!(
                    "line {line_number}: torn last line (no newline): {error}"
                ));
                continue;
            }
            Err(error) => {
                report
                    .skipped_bad
                    .push(format!("line {line_number}: not an annal event: {error}"));
                continue;
            }
        };
        match store
            .append(
                &event.aggregate_id.clone(),
                ExpectedVersion::Any,
                vec![to_new(event)],
            )
            .await
        {
            // The store answers a re-sent id with its original position, from before the import.
            Ok(result) if result.first_position <= newest => report.skipped_existing += 1,
            Ok(result) => {
                newest = result.last_position;
                report.imported += 1;
            }
            Err(AppendError::DuplicateEventId { .. }) => report.skipped_existing += 1,
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!("line {line_number}")));
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

/// An exported event as it is appended again: its version and position are the new store's.
fn to_new(event: RecordedEvent) -> NewEvent {
    NewEvent {
        id: Some(event.id),
        event_type: event.event_type,
        aggregate_type: Some(event.aggregate_type),
        timestamp: Some(event.timestamp),
        source: event.source,
        payload: event.payload.to_value(),
        metadata: Some(event.metadata.to_value()),
        causation_id: event.causation_id,
        correlation_id: event.correlation_id,
    }
}
