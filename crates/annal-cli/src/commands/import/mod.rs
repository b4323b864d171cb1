//! `annal import`: events from annal NDJSON, the seed's SQLite event store, or the seed's run
//! ledger directory, one importer per file.
//!
//! The source is opened and checked by [`prepare`] before the store is opened, so a wrong file
//! creates or changes nothing. Every importer is idempotent: an event whose id is already stored
//! is counted as such and left alone, so re-running an import adds nothing. A bad record is
//! reported (by line or rowid) and skipped; it never stops the records around it.

mod detect;
mod lines;
mod ndjson;
mod report;
mod seed_ledger;
mod seed_sqlite;

use std::sync::Arc;

use annal_core::Store;

pub(crate) use report::Report;

use crate::args::{ImportArgs, ImportFormat};
use crate::output::Output;

/// An opened, checked import source.
pub(crate) enum Source {
    Ndjson(ndjson::NdjsonFile),
    SeedSqlite(seed_sqlite::SeedDatabase),
    SeedLedger(seed_ledger::SeedLedger),
}

/// Opens the source `args` names, in the given or detected format, and checks it is one.
pub(crate) fn prepare(args: &ImportArgs) -> anyhow::Result<Source> {
    let format = match args.format {
        Some(format) => format,
        None => detect::detect(&args.source)?,
    };
    Ok(match format {
        ImportFormat::Ndjson => Source::Ndjson(ndjson::open(&args.source)?),
        ImportFormat::SeedSqlite => Source::SeedSqlite(seed_sqlite::open(&args.source)?),
        ImportFormat::SeedLedger => Source::SeedLedger(seed_ledger::open(&args.source)?),
    })
}

/// Imports `source` into `store` and prints the summary.
pub(crate) async fn run(
    store: Arc<dyn Store>,
    source: Source,
    out: &mut Output,
) -> anyhow::Result<()> {
    import(store, source, out).await?.print(out)
}

/// Imports `source` into `store` and returns what happened, printing nothing.
pub(crate) async fn import(
    store: Arc<dyn Store>,
    source: Source,
    out: &Output,
) -> anyhow::Result<Report> {
    Ok(match source {
        Source::Ndjson(file) => ndjson::import(&*store, file, out).await?,
        Source::SeedSqlite(database) => seed_sqlite::import(&*store, database, out).await?,
        Source::SeedLedger(ledger) => seed_ledger::import(&*store, ledger, out).await?,
    })
}
