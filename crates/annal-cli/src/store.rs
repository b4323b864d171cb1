//! Opening the store that `--store` names: the backend is chosen at run time, so every command
//! works on an `Arc<dyn Store>`.
//!
//! `--store` takes a file path (the embedded SQLite store), `ndjson:DIR` (a human-readable
//! directory) or a `postgres://` / `postgresql://` URL (a shared server database).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use annal_core::Store;
use annal_postgres::{ConnectError, PostgresOptions, PostgresStore};
use annal_sqlite::SqliteStore;
use anyhow::{Context, bail};

/// Whether the command writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Takes the writer lock, creating the store if it does not exist.
    Write,
    /// Reads while another process may write; the store must exist.
    Read,
}

/// Where a store lives, parsed from `--store`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
    /// An NDJSON store directory.
    Ndjson(PathBuf),
    /// A PostgreSQL database, by connection URL.
    Postgres(String),
}

const NDJSON_PREFIX: &str = "ndjson:";

impl Location {
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            // Parsed now, so a malformed URL is reported before any command starts.
            text.parse::<annal_postgres::Config>().map_err(|error| {
                anyhow::anyhow!(
                    "--store {}: not a valid PostgreSQL URL: {error}",
                    redact(text)
                )
            })?;
            return Ok(Location::Postgres(text.to_owned()));
        }
        if let Some(dir) = text.strip_prefix(NDJSON_PREFIX) {
            if dir.is_empty() {
                bail!("--store ndjson: needs a directory, as in ndjson:./ledger");
            }
            return Ok(Location::Ndjson(PathBuf::from(dir)));
        }
        if text.is_empty() {
            bail!("--store is empty; give a file path, ndjson:DIR or a postgres:// URL");
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }
}

impl fmt::Display for Location {
    /// How messages name the store: the path, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Ndjson(dir) => write!(f, "{NDJSON_PREFIX}{}", dir.display()),
            Location::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `url` with its password, wherever it is written, replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    replace_password(url, Some("***"))
}

/// `url` with its password removed (for handing to another program, which gets the password
/// through its environment instead of its command line, where any local user could read it).
pub(crate) fn without_password(url: &str) -> String {
    replace_password(url, None)
}

/// Rewrites the password of a `postgres://` URL the way libpq and tokio-postgres read it: the
/// user part runs from `://` to the first `@` (so a password may hold `/` or `?`), and a
/// `password=` query parameter counts too.
fn replace_password(url: &str, replacement: Option<&str>) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let mut out = scheme.to_owned();
    let rest = match rest.find('@') {
        Some(at) => {
            let user = &rest[..at];
            match (user.split_once(':'), replacement) {
                (Some((name, _)), Some(mask)) => out.push_str(&format!("{name}:{mask}@")),
                (Some((name, _)), None) => out.push_str(&format!("{name}@")),
                (None, _) => out.push_str(&rest[..=at]),
            }
            &rest[at + 1..]
        }
        None => rest,
    };
    let Some((path, query)) = rest.split_once('?') else {
        out.push_str(rest);
        return out;
    };
    out.push_str(path);
    let kept: Vec<String> = query
        .split('&')
        .filter_map(|pair| match (pair.starts_with("password="), replacement) {
            (false, _) => Some(pair.to_owned()),
            (true, Some(mask)) => Some(format!("password={mask}")),
            (true, None) => None,
        })
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

/// Opens the store at `location`.
pub(crate) async fn open(
    location: Location,
    access: Access,
    lock_timeout: Duration,
) -> anyhow::Result<Arc<dyn Store>> {
    let missing = |location: &Location| {
        anyhow::anyhow!(
            "no store at {location}: create one with `annal init` or point --store (or \
             ANNAL_STORE) at an existing store"
        )
    };
    match &location {
        Location::Sqlite(path) => {
            if access == Access::Read && !path.exists() && path.as_os_str() != ":memory:" {
                return Err(missing(&location));
            }
            let options = match access {
                Access::Write => annal_sqlite::OpenOptions::new().lock_timeout(lock_timeout),
                Access::Read => annal_sqlite::OpenOptions::new().read_only(),
            };
            // Opening may wait for the writer lock, so it runs off the async threads.
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || {
                SqliteStore::open_with(&path, options)
                    .with_context(|| format!("opening {}", path.display()))
            })
            .await??;
            Ok(Arc::new(store))
        }
        Location::Ndjson(dir) => {
            if access == Access::Read && !dir.exists() {
                return Err(missing(&location));
            }
            let options = match access {
                Access::Write => annal_ndjson::OpenOptions::new().lock_timeout(lock_timeout),
                Access::Read => annal_ndjson::OpenOptions::new().read_only(),
            };
            // Opening scans the log and may wait for the writer lock: off the async threads.
            let path = dir.clone();
            let store = tokio::task::spawn_blocking(move || {
                annal_ndjson::NdjsonStore::open_with(&path, options)
                    .with_context(|| format!("opening {NDJSON_PREFIX}{}", path.display()))
            })
            .await??;
            // What recovery found (a torn append cut off, files removed) is said, never absorbed.
            for warning in store.recovery().warnings() {
                eprintln!(
                    "annal: warning: {NDJSON_PREFIX}{}: {warning}",
                    dir.display()
                );
            }
            Ok(Arc::new(store))
        }
        Location::Postgres(url) => {
            let options = match access {
                Access::Write => PostgresOptions::new(),
                Access::Read => PostgresOptions::new().read_only(),
            };
            let config = url.parse().context("parsing the PostgreSQL URL")?;
            match PostgresStore::connect_with(config, options).await {
                Ok(store) => Ok(Arc::new(store)),
                Err(ConnectError::NotFound) => Err(missing(&location)),
                Err(error) => Err(anyhow::Error::new(error).context(format!("opening {location}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_choose_the_backend() {
        assert_eq!(
            Location::parse("a/b.db").unwrap(),
            Location::Sqlite(PathBuf::from("a/b.db"))
        );
        assert_eq!(
            Location::parse("ndjson:./ledger").unwrap(),
            Location::Ndjson(PathBuf::from("./ledger"))
        );
        let url = "postgresql://user:secret@db.example/annal";
        assert_eq!(
            Location::parse(url).unwrap(),
            Location::Postgres(url.to_owned())
        );
        assert!(Location::parse("ndjson:").is_err());
        assert!(Location::parse("").is_err());
        assert!(Location::parse("postgres://host:notaport/db").is_err());
    }

    #[test]
    fn passwords_are_found_wherever_the_driver_reads_them() {
        assert_eq!(
            redact("postgres://user:s3/c?ret@db.example/annal"),
            "postgres://user:***@db.example/annal"
        );
        assert_eq!(
            redact("postgres://user@db.example/annal?sslmode=disable&password=s3cret"),
            "postgres://user@db.example/annal?sslmode=disable&password=***"
        );
        assert_eq!(
            without_password("postgres://user:pw@db.example/annal?password=x&sslmode=disable"),
            "postgres://user@db.example/annal?sslmode=disable"
        );
        assert_eq!(
            without_password("postgresql:///annal?host=/tmp/sock"),
            "postgresql:///annal?host=/tmp/sock"
        );
    }

    #[test]
    fn messages_never_show_a_password() {
        let shown = Location::parse("postgres://user:secret@db.example:5432/annal?sslmode=disable")
            .unwrap()
            .to_string();
        assert_eq!(
            shown,
            "postgres://user:***@db.example:5432/annal?sslmode=disable"
        );
        let plain = "postgres://user@db.example/annal";
        assert_eq!(Location::parse(plain).unwrap().to_string(), plain);
    }
}
