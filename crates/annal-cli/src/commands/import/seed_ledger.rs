//! Importing the seed guidance run ledger's directory (docs/seed-formats.md §2): each line of
//! `events.ndjson` is a `RunEvent`, stored as annal's ledger stores it (`RunEvent::to_draft`:
//! type `run:recorded`, stream `run-<taskId>`, id = eventId).
//!
//! The import is read-only: `index.json` (derived data) and `.lock` (possibly stale) are never
//! read or touched, so the source directory is left exactly as it was. A torn last line (no
//! newline and not JSON) is a crash mid-append in the seed and is reported as torn; any other bad
//! line is reported by number. Neither stops the lines around it.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use annal_core::{AppendError, Store};
use annal_swarm::ledger::RunEvent;
use anyhow::{Context, bail};

use super::lines::{LINE_BYTES_MAX, Lines};
use super::report::Report;
use crate::commands::transfer::progress;
use crate::output::Output;

/// A seed ledger directory with its `events.ndjson` opened.
pub(crate) struct SeedLedger {
    events_path: PathBuf,
    file: std::fs::File,
}

pub(crate) fn open(dir: &Path) -> anyhow::Result<SeedLedger> {
    if !dir.is_dir() {
        bail!(
            "{} is not a seed ledger: a seed ledger is a directory holding events.ndjson",
            dir.display()
        );
    }
    let events_path = dir.join("events.ndjson");
    if !events_path.is_file() {
        bail!(
            "{} is not a seed ledger: it has no events.ndjson",
            dir.display()
        );
    }
    let file = std::fs::File::open(&events_path)
        .with_context(|| format!("opening {}", events_path.display()))?;
    Ok(SeedLedger { events_path, file })
}

pub(crate) async fn import(
    store: &dyn Store,
    ledger: SeedLedger,
    out: &Output,
) -> anyhow::Result<Report> {
    let SeedLedger { events_path, file } = ledger;
    let shown = events_path.display().to_string();
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(out, size, "importing");
    // The newest position this import has seen: a stored id (from before the import, or
    // repeated within its input) is answered with a position at or below it.
    let mut newest = store.head().await?;
    let mut lines = Lines::new(BufReader::new(file), LINE_BYTES_MAX);
    let mut report = Report::new("seed-ledger");
    loop {
        let next = lines
            .next_line()
            .with_context(|| format!("reading {shown}"))?;
        let Some(next) = next else {
            break;
        };
        let line_number = next.number;
        bar.inc(next.read);
        let text = match next.text {
            Ok(text) => text,
            Err(reason) => {
                report
                    .skipped_bad
                    .push(format!("line {line_number}: not a run event: {reason}"));
                continue;
            }
        };
        // The seed's reader trims every line and skips blank ones.
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        let torn = next.torn;
        let run: RunEvent = match serde_json::from_str(line) {
            Ok(run) => run,
            Err(error) if torn => {
                report.skipped_bad.push(format!(
                    "line {line_number}: torn last line (no newline): {error}"
                ));
                continue;
            }
            Err(error) => {
                report
                    .skipped_bad
                    .push(format!("line {line_number}: not a run event: {error}"));
                continue;
            }
        };
        let draft = match run.to_draft() {
            Ok(draft) => draft,
            Err(error) => {
                report
                    .skipped_bad
                    .push(format!("line {line_number}: {error}"));
                continue;
            }
        };
        match draft.append(store).await {
            // A re-import: the store answers a stored id with its original position.
            Ok(result) if result.last_position <= newest => report.skipped_existing += 1,
            Ok(result) => {
                newest = result.last_position;
                report.imported += 1;
            }
            Err(
                error @ (AppendError::DuplicateEventId { .. } | AppendError::InvalidEvent { .. }),
            ) => {
                report
                    .skipped_bad
                    .push(format!("line {line_number}: {error}"));
            }
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!("line {line_number}")));
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}
