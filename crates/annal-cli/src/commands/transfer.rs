//! `annal export` in annal's NDJSON format (one recorded event per line, what `annal import`
//! reads back), and the progress bar every import and export shows.

use std::io::Write;
use std::sync::Arc;

use annal_core::Store;
use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::ExportArgs;
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
