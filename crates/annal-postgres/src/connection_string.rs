//! [`parse_connection_string`]: a libpq connection string (URL or `key=value` form) split into
//! the driver's [`Config`] and the [`TlsOptions`] that tokio-postgres does not parse.
//!
//! tokio-postgres knows `sslmode` only as `disable`, `prefer` or `require`, and refuses
//! `verify-ca`, `verify-full` and `sslrootcert` as invalid. Those two parameters are taken out
//! of the string here, with their values decoded as libpq decodes them (percent-encoding in a
//! URL, quotes and backslashes in `key=value`); the rest of the string is left as written.
//!
//! Invariant: the string given to tokio-postgres is the input minus exactly those two
//! parameters, so every other parameter means what it meant.

use std::path::PathBuf;
use std::str::FromStr;

use tokio_postgres::Config;

use crate::error::ConnectError;
use crate::tls::{TlsMode, TlsOptions};

/// The parameters taken out of the string.
const TLS_KEYS: [&str; 2] = ["sslmode", "sslrootcert"];

/// Parses a connection string into the driver's configuration and the TLS settings.
pub fn parse_connection_string(text: &str) -> Result<(Config, TlsOptions), ConnectError> {
    let (rest, taken) = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        split_url(text)
    } else {
        split_key_values(text)
    };
    let mut tls = TlsOptions::default();
    for (key, value) in taken {
        match key.as_str() {
            "sslmode" => {
                tls.mode = TlsMode::from_sslmode(&value).ok_or_else(|| ConnectError::Tls {
                    reason: format!(
                        "sslmode={value} is not one of disable, prefer, require, verify-ca, \
                         verify-full"
                    ),
                })?;
            }
            _ => tls.root_cert = Some(PathBuf::from(value)),
        }
    }
    let mut config =
        Config::from_str(&rest).map_err(|source| ConnectError::InvalidUrl { source })?;
    config.ssl_mode(tls.mode.ssl_mode());
    Ok((config, tls))
}

/// A URL without its TLS query parameters, and their decoded values.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((main, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if TLS_KEYS.contains(&key.as_str()) {
            taken.push((key, percent_decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        main.to_owned()
    } else {
        format!("{main}?{}", kept.join("&"))
    };
    (rest, taken)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `key=value` string without its TLS pairs (the others kept as written), and their values.
fn split_key_values(text: &str) -> (String, Vec<(String, String)>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut taken = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (key, value, len) = next_pair(rest);
        if TLS_KEYS.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            kept.push(&rest[..len]);
        }
        rest = rest[len..].trim_start();
    }
    (kept.join(" "), taken)
}

/// The first `key = value` pair of `text` (which starts with the key): its key, decoded value
/// and length in bytes. A malformed pair is returned as it is, for the driver to refuse.
fn next_pair(text: &str) -> (String, String, usize) {
    let key_end = text
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(text.len());
    let key = text[..key_end].to_owned();
    let after_key = &text[key_end..];
    let Some(after_equals) = after_key.trim_start().strip_prefix('=') else {
        return (key, String::new(), key_end);
    };
    let value_text = after_equals.trim_start();
    let value_start = text.len() - value_text.len();
    let mut value = String::new();
    let mut chars = value_text.char_indices();
    let quoted = value_text.starts_with('\'');
    if quoted {
        chars.next();
    }
    let mut end = value_text.len();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '\'' if quoted => {
                end = at + 1;
                break;
            }
            c if c.is_whitespace() && !quoted => {
                end = at;
                break;
            }
            c => value.push(c),
        }
    }
    (key, value, value_start + end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_only_their_tls_parameters() {
        let (rest, taken) = split_url(
            "postgresql://u@h/db?application_name=a&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20x.pem",
        );
        assert_eq!(rest, "postgresql://u@h/db?application_name=a");
        assert_eq!(
            taken,
            [
                ("sslmode".to_owned(), "verify-full".to_owned()),
                ("sslrootcert".to_owned(), "/tmp/ca x.pem".to_owned())
            ]
        );
        assert_eq!(split_url("postgresql://h/db").0, "postgresql://h/db");
    }

    #[test]
    fn key_values_lose_only_their_tls_pairs_and_keep_the_others_as_written() {
        let (rest, taken) = split_key_values(
            "host=/tmp  sslmode = verify-ca password='a b\\'c' sslrootcert='/etc/my ca.pem' dbname=x",
        );
        assert_eq!(rest, "host=/tmp password='a b\\'c' dbname=x");
        assert_eq!(
            taken,
            [
                ("sslmode".to_owned(), "verify-ca".to_owned()),
                ("sslrootcert".to_owned(), "/etc/my ca.pem".to_owned())
            ]
        );
    }

    #[test]
    fn the_mode_reaches_the_driver_and_unknown_modes_are_refused() {
        let (config, tls) =
            parse_connection_string("host=/tmp sslmode=verify-full sslrootcert=/ca.pem").unwrap();
        assert_eq!(tls.mode, TlsMode::VerifyFull);
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let (config, tls) = parse_connection_string("postgresql://h/db").unwrap();
        assert_eq!(tls.mode, TlsMode::Prefer);
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Prefer
        );
        let refused = parse_connection_string("host=/tmp sslmode=allow").unwrap_err();
        assert!(refused.to_string().contains("sslmode=allow"), "{refused}");
    }
}
