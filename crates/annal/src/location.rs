//! [`Location`]: where a store lives, parsed from the strings every annal surface accepts.
//!
//! A location is a file path (the embedded SQLite store), `ndjson:DIR` (a human-readable
//! directory) or a `postgres://` / `postgresql://` URL (a shared server database). Displaying a
//! location never shows a password, so a location can be logged or put in an error message.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The prefix that marks an NDJSON store directory.
pub const NDJSON_PREFIX: &str = "ndjson:";

/// Where a store lives. Exhaustive on purpose: a new backend should make every surface that
/// matches on it decide what to do.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded SQLite file (`:memory:` for a private in-memory database).
    Sqlite(PathBuf),
    /// An NDJSON store directory.
    Ndjson(PathBuf),
    /// A PostgreSQL database, by connection URL.
    Postgres(String),
}

/// Why a location string was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// The string is empty.
    #[error("the store location is empty; give a file path, ndjson:DIR or a postgres:// URL")]
    Empty,
    /// `ndjson:` without a directory.
    #[error("ndjson: needs a directory, as in ndjson:./ledger")]
    NdjsonWithoutDirectory,
    /// A `postgres://` URL that the driver cannot read.
    #[error("{shown}: not a valid PostgreSQL URL: {reason}")]
    InvalidPostgresUrl {
        /// The URL without its password.
        shown: String,
        /// What the driver said.
        reason: String,
    },
}

impl Location {
    /// Parses a location; the same as `text.parse()`.
    pub fn parse(text: &str) -> Result<Self, LocationError> {
        text.parse()
    }
}

impl FromStr for Location {
    type Err = LocationError;

    fn from_str(text: &str) -> Result<Self, LocationError> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            check_postgres_url(text)?;
            return Ok(Location::Postgres(text.to_owned()));
        }
        if let Some(dir) = text.strip_prefix(NDJSON_PREFIX) {
            if dir.is_empty() {
                return Err(LocationError::NdjsonWithoutDirectory);
            }
            return Ok(Location::Ndjson(PathBuf::from(dir)));
        }
        if text.is_empty() {
            return Err(LocationError::Empty);
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }
}

/// Checks the URL now, so a malformed one is reported before anything starts.
#[cfg(feature = "postgres")]
fn check_postgres_url(text: &str) -> Result<(), LocationError> {
    annal_postgres::parse_connection_string(text)
        .map(drop)
        .map_err(|error| LocationError::InvalidPostgresUrl {
            shown: redact(text),
            reason: error.to_string(),
        })
}

/// Without the driver, the URL is checked when a build with the `postgres` feature opens it.
#[cfg(not(feature = "postgres"))]
fn check_postgres_url(_text: &str) -> Result<(), LocationError> {
    Ok(())
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
pub fn redact(url: &str) -> String {
    replace_password(url, Some("***"))
}

/// `url` with its password removed (for handing to another program, which gets the password
/// through its environment instead of its command line, where any local user could read it).
pub fn without_password(url: &str) -> String {
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
        assert!(matches!(
            Location::parse("ndjson:"),
            Err(LocationError::NdjsonWithoutDirectory)
        ));
        assert!(matches!(Location::parse(""), Err(LocationError::Empty)));
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_malformed_postgres_url_is_refused_without_its_password() {
        let error = Location::parse("postgres://u:secret@host:notaport/db").unwrap_err();
        assert!(matches!(error, LocationError::InvalidPostgresUrl { .. }));
        assert!(!error.to_string().contains("secret"), "{error}");
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
