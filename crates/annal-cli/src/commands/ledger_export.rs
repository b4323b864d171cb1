//! `annal export --format seed-ledger --output DIR`: the stored run events written back as a
//! seed guidance ledger directory (docs/seed-formats.md §2), so the seed's tools can read them.
//!
//! `events.ndjson` holds one compact `RunEvent` per line, each followed by `\n`; `index.json` is
//! the seed's index, pretty-printed with 2 spaces and no trailing newline. Each file is written
//! beside its target and renamed into place, so a failed export never leaves half a file, and an
//! existing non-empty directory is refused rather than mixed with.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use annal_core::Store;
use annal_swarm::ledger::RunEvent;
use anyhow::{Context, bail};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use crate::args::ExportArgs;
use crate::commands::transfer::progress;
use crate::convert;
use crate::output::Output;

/// The seed's `index.json`, fields in the seed's order.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct LedgerIndex {
    event_count: u64,
    oldest_timestamp: Option<i64>,
    newest_timestamp: Option<i64>,
    /// Unique, in first-seen order.
    task_ids: Vec<String>,
}

pub(crate) async fn run(
    store: Arc<dyn Store>,
    args: ExportArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let Some(dir) = args.output else {
        bail!("--format seed-ledger writes a directory: give it with --output DIR");
    };
    prepare_dir(&dir)?;
    let filter = convert::filter(&args.filter)?;
    let mut events = store.query(&filter).await?;
    let bar = progress(out, store.head().await?.0, "exporting");
    let mut index = LedgerIndex::default();
    let mut seen_tasks = HashSet::new();
    let mut temp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    {
        let mut writer = std::io::BufWriter::new(temp.as_file_mut());
        while let Some(event) = events.next().await {
            let event = event?;
            bar.inc(1);
            // Only run events belong in a ledger; other events the filter lets through are not
            // runs and have no seed form.
            let Some(run) = RunEvent::from_recorded(&event) else {
                continue;
            };
            let run = run
                .with_context(|| format!("event {} at position {}", event.id, event.position.0))?;
            serde_json::to_writer(&mut writer, &run)?;
            writer.write_all(b"\n")?;
            index.event_count += 1;
            index.oldest_timestamp = Some(
                index
                    .oldest_timestamp
                    .map_or(run.timestamp, |t| t.min(run.timestamp)),
            );
            index.newest_timestamp = Some(
                index
                    .newest_timestamp
                    .map_or(run.timestamp, |t| t.max(run.timestamp)),
            );
            if seen_tasks.insert(run.task_id.clone()) {
                index.task_ids.push(run.task_id);
            }
        }
        writer.flush()?;
    }
    temp.as_file().sync_all()?;
    let events_path = dir.join("events.ndjson");
    temp.persist(&events_path)
        .with_context(|| format!("writing {}", events_path.display()))?;
    let index_path = dir.join("index.json");
    write_atomically(
        &dir,
        &index_path,
        serde_json::to_string_pretty(&index)?.as_bytes(),
    )?;
    sync_dir(&dir)?;
    bar.finish_and_clear();
    let count = index.event_count;
    out.value(
        &json!({"exported": count, "output": dir, "taskIds": index.task_ids.len()}),
        &format!("exported {count} run event(s) to {}", dir.display()),
    )
}

/// Creates `dir`, or accepts it if it exists and is empty.
fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{} exists and is not a readable directory", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; a seed ledger export needs a new or empty directory",
                dir.display()
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Makes the renames durable.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}
