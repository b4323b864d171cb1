//! Entry points for the fuzz targets in `fuzz/`: the decoders of outside bytes that live in this
//! crate (the `append --stdin` line parser and the three importers), callable without a
//! terminal, a process or printed output.
//!
//! Not a stable API: hidden from the docs, and shaped only by what the fuzz targets need. Each
//! function runs exactly the code the `annal` command runs on the same bytes.

use std::path::Path;
use std::sync::Arc;

use annal_core::{ExpectedVersion, NewEvent, Store, StreamId};

use crate::args::{ImportArgs, ImportFormat};
use crate::output::Output;

/// One `append --stdin` line, decoded as the command decodes it.
#[derive(Debug)]
pub struct StdinLine {
    /// The stream the line appends to.
    pub stream: StreamId,
    /// Its expectation (`Any` when the line has none).
    pub expected: ExpectedVersion,
    /// The event, with the id the command assigns when the line has none.
    pub event: NewEvent,
}

/// Decodes one line of `append --stdin` input.
pub fn parse_stdin_line(text: &str) -> anyhow::Result<StdinLine> {
    let parsed = super::append_stdin::parse(text, None)?;
    Ok(StdinLine {
        stream: parsed.stream,
        expected: parsed.expected,
        event: parsed.event,
    })
}

/// What an import did: events imported, events already stored, records skipped as bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportCounts {
    /// Events newly stored.
    pub imported: u64,
    /// Events already stored under the same id.
    pub skipped_existing: u64,
    /// Records reported as bad and skipped.
    pub skipped_bad: u64,
}

/// Checks `source` as `annal import --format <format>` does, then imports it into `store`,
/// printing nothing.
pub async fn import(
    store: Arc<dyn Store>,
    format: ImportFormat,
    source: &Path,
) -> anyhow::Result<ImportCounts> {
    let args = ImportArgs {
        source: source.to_path_buf(),
        format: Some(format),
    };
    let source = super::import::prepare(&args)?;
    // JSON mode: no progress bar, and nothing is written to it here.
    let out = Output::new(true);
    let report = super::import::import(store, source, &out).await?;
    Ok(ImportCounts {
        imported: report.imported,
        skipped_existing: report.skipped_existing,
        skipped_bad: report.skipped_bad.len() as u64,
    })
}
