//! The token file: who may call the server, with which scopes, on which streams.
//!
//! Invariant: the file holds only SHA-256 hashes of secrets; a secret is printed once, when it is
//! created, and never written anywhere. A secret is 256 random bits, so its hash needs no salt
//! or stretching. The file is replaced atomically (temp file, fsync, rename, directory fsync) and
//! is readable by its owner only.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// Reads, queries, subscriptions, projections, stats.
    Read,
    /// Appends and snapshot saves.
    Append,
    /// Retention, verify and token management; implies read and append.
    Admin,
}

impl Scope {
    /// Parses `read`, `append` or `admin`.
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "read" => Some(Scope::Read),
            "append" => Some(Scope::Append),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Append => "append",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One token as stored: its hash, never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// A public id, to list and revoke the token by.
    pub id: String,
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub sha256: String,
    /// What the token allows.
    pub scopes: Vec<Scope>,
    /// Stream patterns: an exact stream id, or a prefix ending in `*`. Empty: every stream.
    #[serde(default)]
    pub streams: Vec<String>,
    /// When it was created (ms since epoch).
    pub created_at: i64,
    /// When it was revoked; a revoked token is refused.
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

impl TokenRecord {
    /// Whether the token allows `scope` (admin allows everything).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Whether the token may touch `stream`.
    pub fn covers(&self, stream: &str) -> bool {
        self.streams.is_empty()
            || self
                .streams
                .iter()
                .any(|pattern| stream_matches(pattern, stream))
    }
}

/// Whether `stream` matches `pattern`: exactly, or by prefix when the pattern ends in `*`.
pub fn stream_matches(pattern: &str, stream: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => stream.starts_with(prefix),
        None => stream == pattern,
    }
}

/// Errors reading or writing the token file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    /// Reading or writing failed.
    #[error("token file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a token file.
    #[error("token file {path} is damaged: {reason}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No token has that id.
    #[error("no token with id {id}")]
    UnknownId {
        /// The id asked for.
        id: String,
    },
    /// A token needs at least one scope.
    #[error("a token needs at least one scope (read, append, admin)")]
    NoScope,
    /// A stream pattern is empty or has control characters.
    #[error("stream pattern {pattern:?} is invalid: give a stream id, or a prefix ending in *")]
    BadPattern {
        /// The pattern.
        pattern: String,
    },
    /// The system's random source failed.
    #[error("no randomness available for a secret: {0}")]
    Random(String),
}

/// The whole token file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenFile {
    /// Every token, revoked ones included.
    pub tokens: Vec<TokenRecord>,
}

/// A new token: its record (stored) and its secret (shown once).
#[derive(Debug)]
pub struct NewToken {
    /// What is stored.
    pub record: TokenRecord,
    /// The secret to give the client; it is not stored.
    pub secret: String,
}

impl TokenFile {
    /// Reads the file; a missing file is an empty token set.
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TokenFile::default());
            }
            Err(source) => {
                return Err(TokenFileError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|error| TokenFileError::Corrupted {
            path: path.to_owned(),
            reason: error.to_string(),
        })
    }

    /// Replaces the file atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), TokenFileError> {
        let io = |source| TokenFileError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        restrict_permissions(file.as_file()).map_err(io)?;
        let text = serde_json::to_vec_pretty(self).map_err(|error| TokenFileError::Corrupted {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        file.write_all(&text).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        file.persist(path).map_err(|error| io(error.error))?;
        std::fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io)?;
        Ok(())
    }

    /// Adds a token with a fresh secret.
    pub fn create(
        &mut self,
        name: &str,
        scopes: Vec<Scope>,
        streams: Vec<String>,
        now: i64,
    ) -> Result<NewToken, TokenFileError> {
        if scopes.is_empty() {
            return Err(TokenFileError::NoScope);
        }
        if let Some(pattern) = streams
            .iter()
            .find(|p| p.is_empty() || *p == "*" || p.chars().any(char::is_control))
        {
            return Err(TokenFileError::BadPattern {
                pattern: pattern.clone(),
            });
        }
        let id = format!("tok_{}", hex(&random_bytes::<6>()?));
        let secret = format!("annal_{}", hex(&random_bytes::<32>()?));
        let record = TokenRecord {
            id,
            name: name.to_owned(),
            sha256: hex(&Sha256::digest(secret.as_bytes())),
            scopes,
            streams,
            created_at: now,
            revoked_at: None,
        };
        self.tokens.push(record.clone());
        Ok(NewToken { record, secret })
    }

    /// Marks the token `id` revoked.
    pub fn revoke(&mut self, id: &str, now: i64) -> Result<&TokenRecord, TokenFileError> {
        let record = self
            .tokens
            .iter_mut()
            .find(|record| record.id == id)
            .ok_or_else(|| TokenFileError::UnknownId { id: id.to_owned() })?;
        record.revoked_at.get_or_insert(now);
        Ok(record)
    }

    /// The live token whose secret is `secret`. Every record is compared in constant time, so
    /// the answer's timing does not depend on which record (if any) matched.
    pub fn authenticate(&self, secret: &str) -> Option<&TokenRecord> {
        let digest = hex(&Sha256::digest(secret.as_bytes()));
        let mut found = None;
        for record in &self.tokens {
            let equal: bool = record.sha256.as_bytes().ct_eq(digest.as_bytes()).into();
            if equal && record.revoked_at.is_none() {
                found = Some(record);
            }
        }
        found
    }

    /// Whether any token is live.
    pub fn has_live_tokens(&self) -> bool {
        self.tokens.iter().any(|record| record.revoked_at.is_none())
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], TokenFileError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| TokenFileError::Random(error.to_string()))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(unix)]
fn restrict_permissions(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_is_stored_and_revocation_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let mut file = TokenFile::default();
        let token = file
            .create("agent", vec![Scope::Append], vec!["agent-7".into()], 1)
            .unwrap();
        file.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&token.secret[6..]));
        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(
            file.authenticate(&token.secret).unwrap().id,
            token.record.id
        );
        assert!(file.authenticate("annal_wrong").is_none());
        file.revoke(&token.record.id, 2).unwrap();
        assert!(file.authenticate(&token.secret).is_none());
        assert!(matches!(
            file.revoke("tok_none", 3),
            Err(TokenFileError::UnknownId { .. })
        ));
    }

    #[test]
    fn patterns_are_exact_unless_they_end_in_a_star() {
        assert!(stream_matches("agent-7", "agent-7"));
        assert!(!stream_matches("agent-7", "agent-70"));
        assert!(stream_matches("task-*", "task-../agent-1"));
        assert!(!stream_matches("task-*", "agent-1"));
        let mut file = TokenFile::default();
        assert!(matches!(
            file.create("x", vec![Scope::Read], vec!["*".into()], 0),
            Err(TokenFileError::BadPattern { .. })
        ));
        assert!(matches!(
            file.create("x", vec![], vec![], 0),
            Err(TokenFileError::NoScope)
        ));
    }
}
