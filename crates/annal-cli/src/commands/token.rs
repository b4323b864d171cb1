//! `annal token create|list|revoke`: the server's token file. A secret is printed once, at
//! creation; the file keeps only its hash.

use std::path::{Path, PathBuf};

use annal::Location;
use annal_server::{Scope, TokenFile};
use anyhow::Context;
use serde_json::json;

use crate::args::TokenCommand;
use crate::output::Output;

/// The token file for `location` when `--tokens` is not given: beside the store.
pub(crate) fn default_path(location: &Location) -> Option<PathBuf> {
    let mut path = match location {
        Location::Sqlite(path) if path.as_os_str() != ":memory:" => path.clone().into_os_string(),
        Location::Ndjson(dir) => dir.clone().into_os_string(),
        _ => return None,
    };
    path.push(".tokens.json");
    Some(PathBuf::from(path))
}

fn resolve(location: &Location, tokens: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    tokens.or_else(|| default_path(location)).ok_or_else(|| {
        anyhow::anyhow!("a {location} store has no default token file; give --tokens FILE")
    })
}

pub(crate) fn run(
    location: &Location,
    command: TokenCommand,
    out: &mut Output,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            scope,
            streams,
            name,
            tokens,
        } => {
            let path = resolve(location, tokens)?;
            let scopes = scope
                .iter()
                .map(|text| {
                    Scope::parse(text.trim()).ok_or_else(|| {
                        anyhow::anyhow!("--scope {text:?}: use read, append or admin")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut file = load(&path)?;
            let token = file.create(&name, scopes, streams, now_ms())?;
            file.save(&path)?;
            out.value(
                &json!({"id": token.record.id, "secret": token.secret, "tokens": path}),
                &format!(
                    "created {} in {}\nsecret (shown once; give it as `Authorization: Bearer \
                     <secret>`):\n{}",
                    token.record.id,
                    path.display(),
                    token.secret
                ),
            )
        }
        TokenCommand::List { tokens } => {
            let path = resolve(location, tokens)?;
            let file = load(&path)?;
            if out.json() {
                return out.json_line(&json!({"tokens": file.tokens}));
            }
            let mut text = format!("{} token(s) in {}", file.tokens.len(), path.display());
            for token in &file.tokens {
                let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
                let streams = if token.streams.is_empty() {
                    "all streams".to_owned()
                } else {
                    token.streams.join(",")
                };
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                text.push_str(&format!(
                    "\n{}  {state}  {}  {streams}  {}",
                    token.id,
                    scopes.join(","),
                    token.name
                ));
            }
            out.text(&text)
        }
        TokenCommand::Revoke { id, tokens } => {
            let path = resolve(location, tokens)?;
            let mut file = load(&path)?;
            file.revoke(&id, now_ms())?;
            file.save(&path)?;
            out.value(&json!({"revoked": id}), &format!("revoked {id}"))
        }
    }
}

fn load(path: &Path) -> anyhow::Result<TokenFile> {
    TokenFile::load(path).with_context(|| format!("reading {}", path.display()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
