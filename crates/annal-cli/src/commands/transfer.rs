//! `annal import` and `annal export` in annal's NDJSON format: one recorded event per line.
//!
//! Import keeps ids, streams, versions' order, timestamps, metadata and causation/correlation
//! ids. It is idempotent: an event whose id is already stored is skipped, so re-running an import
//! adds nothing. A bad line is reported by number and skipped; a torn last line (no newline, not
//! JSON) is reported as such.

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;

use annal_core::{AppendError, ExpectedVersion, NewEvent, RecordedEvent, Store};
use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::{ExportArgs, ImportArgs};
use crate::convert;
use crate::output::Output;

/// A progress bar on standard error when a person is watching, hidden otherwise.
pub(crate) fn progress(out: &Output, total: u64, message: &'static str) -> ProgressBar {
    if out.json() || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec})") {
        bar.set_style(style);
    }
    bar
}

pub(crate) async fn import(
    store: Arc<dyn Store>,
    args: ImportArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(&args.source)
        .with_context(|| format!("opening {}", args.source.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(out, size, "importing");
    let head_before = store.head().await?;
    let mut reader = BufReader::new(file);
    let (mut imported, mut skipped_existing) = (0u64, 0u64);
    let mut bad_lines: Vec<String> = Vec::new();
    let mut line_number = 0usize;
    let mut text = String::new();
    loop {
        text.clear();
        let read = reader
            .read_line(&mut text)
            .with_context(|| format!("reading {}", args.source.display()))?;
        if read == 0 {
            break;
        }
        line_number += 1;
        bar.inc(read as u64);
        if text.trim().is_empty() {
            continue;
        }
        let torn = !text.ends_with('\n');
        let event: RecordedEvent = match serde_json::from_str(text.trim_end()) {
            Ok(event) => event,
            Err(error) if torn => {
                bad_lines.push(format!(
                    "line {line_number}: torn last line (no newline): {error}"
                ));
                continue;
            }
            Err(error) => {
                bad_lines.push(format!("line {line_number}: not an annal event: {error}"));
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
            Ok(result) if result.first_position <= head_before => skipped_existing += 1,
            Ok(_) => imported += 1,
            Err(AppendError::DuplicateEventId { .. }) => skipped_existing += 1,
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!("line {line_number}")));
            }
        }
    }
    bar.finish_and_clear();
    let mut human = format!(
        "imported {imported} event(s); skipped {skipped_existing} already stored (same id)"
    );
    if !bad_lines.is_empty() {
        human.push_str(&format!("; skipped {} bad line(s):", bad_lines.len()));
        for line in &bad_lines {
            human.push_str(&format!("\n  {line}"));
        }
    }
    let summary = json!({
        "imported": imported,
        "skippedExisting": skipped_existing,
        "skippedBadLines": bad_lines,
    });
    out.value(&summary, &human)
}

/// An exported event as it is appended again: its version and position are the new store's.
fn to_new(event: RecordedEvent) -> NewEvent {
    NewEvent {
        id: Some(event.id),
        event_type: event.event_type,
        aggregate_type: Some(event.aggregate_type),
        timestamp: Some(event.timestamp),
        source: event.source,
        payload: event.payload,
        metadata: Some(event.metadata),
        causation_id: event.causation_id,
        correlation_id: event.correlation_id,
    }
}

pub(crate) async fn export(
    store: Arc<dyn Store>,
    args: ExportArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let filter = convert::filter(&args.filter)?;
    let mut events = store.query(&filter).await?;
    let Some(path) = args.output else {
        while let Some(event) = events.next().await {
            out.json_line(&event?)?;
        }
        return Ok(());
    };
    // Write beside the target and rename, so a failed export never leaves half a file.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut temp = tempfile_in(dir)?;
    let bar = progress(out, store.head().await?.0, "exporting");
    let mut count = 0u64;
    {
        let mut writer = std::io::BufWriter::new(temp.as_file_mut());
        while let Some(event) = events.next().await {
            serde_json::to_writer(&mut writer, &event?)?;
            writer.write_all(b"\n")?;
            count += 1;
            bar.inc(1);
        }
        writer.flush()?;
    }
    temp.as_file().sync_all()?;
    temp.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    bar.finish_and_clear();
    out.value(
        &json!({"exported": count, "output": path}),
        &format!("exported {count} event(s) to {}", path.display()),
    )
}

fn tempfile_in(dir: &std::path::Path) -> anyhow::Result<tempfile::NamedTempFile> {
    tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))
}
