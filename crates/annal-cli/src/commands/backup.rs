//! `annal backup DEST`: a consistent copy of the embedded store while writers keep running.
//!
//! SQLite's online backup API copies the database under one read transaction, so the copy is the
//! store as of one commit, and in WAL mode the writer is not blocked meanwhile.

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use crate::args::BackupArgs;
use crate::output::Output;
use crate::store::Location;

pub(crate) async fn run(
    location: &Location,
    args: BackupArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let source = location.sqlite_path().to_path_buf();
    if !source.exists() {
        bail!("no store at {}", source.display());
    }
    if args.dest.exists() {
        bail!(
            "{} already exists; a backup never overwrites a file",
            args.dest.display()
        );
    }
    let dest = args.dest.clone();
    let bytes = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let from = Connection::open_with_flags(&source, flags)
            .with_context(|| format!("opening {}", source.display()))?;
        let mut to =
            Connection::open(&dest).with_context(|| format!("creating {}", dest.display()))?;
        let backup = rusqlite::backup::Backup::new(&from, &mut to)?;
        // All pages in one step (-1): one read transaction, so the copy is one consistent state.
        let step = backup.step(-1).context("copying the store")?;
        anyhow::ensure!(
            step == rusqlite::backup::StepResult::Done,
            "the copy did not complete ({step:?}); retry"
        );
        drop(backup);
        // The copy must be durable and self-contained before we say it exists.
        to.execute_batch("PRAGMA journal_mode=DELETE;")?;
        drop(to);
        std::fs::File::open(&dest)?.sync_all()?;
        Ok(std::fs::metadata(&dest)?.len())
    })
    .await??;
    out.value(
        &json!({"backup": args.dest, "bytes": bytes}),
        &format!("backed up to {} ({bytes} bytes)", args.dest.display()),
    )
}
