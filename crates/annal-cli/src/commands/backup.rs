//! `annal backup DEST`: a consistent copy of the store while writers keep running, made with
//! each backend's own tool for it.
//!
//! - Embedded SQLite: `annal_sqlite::backup` copies the database with SQLite's online backup
//!   API under one read transaction (the store as of one commit; the writer is not blocked),
//!   into a temporary file that is fsynced and renamed to DEST, so a failed backup leaves
//!   nothing. DEST is a new SQLite file.
//! - NDJSON directory: `annal_ndjson::backup` copies the log between two reads of the sidecar
//!   files and retries until nothing changed in between. DEST is a new store directory.
//! - PostgreSQL: `pg_dump` in its custom format, which reads one snapshot of the database.
//!   DEST is a dump file for `pg_restore`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;

use crate::args::BackupArgs;
use crate::output::Output;
use crate::store::{Access, Location, open, without_password};

pub(crate) async fn run(
    location: &Location,
    args: BackupArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    if args.dest.exists() {
        bail!(
            "{} already exists; a backup never overwrites anything",
            args.dest.display()
        );
    }
    let dest = args.dest.clone();
    let (bytes, format) = match location {
        Location::Sqlite(source) => {
            if !source.exists() {
                bail!("no store at {location}");
            }
            let source = source.clone();
            let bytes = tokio::task::spawn_blocking(move || annal_sqlite::backup(&source, &dest))
                .await?
                .with_context(|| format!("backing up {location}"))?;
            (bytes, "sqlite")
        }
        Location::Ndjson(source) => {
            if !source.exists() {
                bail!("no store at {location}");
            }
            annal_ndjson::backup(source, &dest)
                .await
                .with_context(|| format!("backing up {location}"))?;
            (directory_bytes(&dest)?, "ndjson")
        }
        Location::Postgres(url) => {
            // Like the other backends: no store there is an error, not an empty dump.
            drop(open(location.clone(), Access::Read, Duration::ZERO).await?);
            let url = url.clone();
            let bytes = tokio::task::spawn_blocking(move || pg_dump(&url, &dest)).await??;
            (bytes, "pg_dump custom format (restore with pg_restore)")
        }
    };
    out.value(
        &json!({"backup": args.dest, "bytes": bytes, "format": format}),
        &format!(
            "backed up {location} to {} ({bytes} bytes, {format})",
            args.dest.display()
        ),
    )
}

/// Dumps the database with `pg_dump`, then makes the dump durable.
fn pg_dump(url: &str, dest: &Path) -> anyhow::Result<u64> {
    let program = pg_dump_program().context(
        "backing up a PostgreSQL store needs pg_dump (Debian: apt-get install postgresql-client)",
    )?;
    // The password goes through the environment, never the command line (visible in `ps`).
    let (config, _) =
        annal_postgres::parse_connection_string(url).context("parsing the PostgreSQL URL")?;
    let mut command = Command::new(&program);
    command
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(dest)
        .arg("--dbname")
        .arg(without_password(url));
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", String::from_utf8_lossy(password).as_ref());
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !output.status.success() {
        // pg_dump may leave a partial file; a failed backup leaves nothing behind.
        let _ = std::fs::remove_file(dest);
        bail!(
            "pg_dump failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    std::fs::File::open(dest)?.sync_all()?;
    Ok(std::fs::metadata(dest)?.len())
}

/// `pg_dump` from the newest server installation, else from `PATH`.
fn pg_dump_program() -> Option<PathBuf> {
    // The newest major version: pg_dump refuses servers newer than itself. Sorted as numbers,
    // so 16 comes after 9.6.
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()?
                .parse()
                .ok()?;
            let program = entry.path().join("bin/pg_dump");
            program.exists().then_some((major, program))
        })
        .collect();
    installed.sort();
    installed.pop().map(|(_, program)| program).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("pg_dump"))
                .find(|path| path.exists())
        })
    })
}

/// The total size of the files under `dir`.
fn directory_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        total += if metadata.is_dir() {
            directory_bytes(&entry.path())?
        } else {
            metadata.len()
        };
    }
    Ok(total)
}
