//! `annal serve`: opens the store as its writer and serves it over HTTP until SIGTERM or
//! Ctrl-C, then shuts down gracefully and releases the store.
//!
//! Security by default: it listens on loopback unless told otherwise, and refuses a
//! non-loopback address without live tokens unless given `--insecure-no-auth`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use annal::Location;
use annal_server::{Auth, ServerConfig, TlsFiles, TokenFile, TokenSource};
use anyhow::Context;
use serde_json::json;

use crate::args::ServeArgs;
use crate::output::Output;
use crate::store::{Access, open};

pub(crate) async fn run(
    location: &Location,
    args: ServeArgs,
    lock_timeout: Duration,
    out: &mut Output,
) -> anyhow::Result<()> {
    init_logs();
    let auth = auth(location, &args)?;
    let config = ServerConfig {
        listen: args.listen,
        body_bytes_cap: args.max_body,
        subscribers_max: args.max_subscribers,
        heartbeat: args.heartbeat,
        header_read_timeout: args.header_timeout,
        body_read_timeout: args.body_timeout,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => None,
        },
        ..ServerConfig::default()
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let store = open(location.clone(), Access::Write, lock_timeout).await?;
    let listener = annal_server::bind(&config)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    // The first line of output says where the server listens (with port 0, the chosen port).
    out.value(
        &json!({"listening": format!("{scheme}://{address}"), "store": location.to_string()}),
        &format!("annal serving {location} on {scheme}://{address}"),
    )?;
    out.flush()?;
    annal_server::serve_until(
        listener,
        Arc::clone(&store),
        config,
        auth,
        shutdown_signal(),
    )
    .await
    .context("serving")?;
    // The last handle: dropping it stops the writer and releases the store's lock.
    drop(store);
    tracing::info!("stopped");
    Ok(())
}

/// Tokens from the file, or none on loopback; a non-loopback address without live tokens is
/// refused unless `--insecure-no-auth`.
fn auth(location: &Location, args: &ServeArgs) -> anyhow::Result<Auth> {
    let explicit = args.tokens.is_some();
    let path: Option<PathBuf> = args
        .tokens
        .clone()
        .or_else(|| crate::commands::token::default_path(location));
    if let Some(path) = &path {
        if explicit && !path.exists() {
            anyhow::bail!(
                "no token file at {}: create a token with `annal token create --tokens {}`",
                path.display(),
                path.display()
            );
        }
        let live = TokenFile::load(path)?.has_live_tokens();
        if live || explicit {
            return Ok(Auth::Tokens(TokenSource::open(path.clone())?));
        }
    }
    if !args.listen.ip().is_loopback() && !args.insecure_no_auth {
        anyhow::bail!(
            "refusing to serve {} without authentication: create a token with `annal token \
             create`, or pass --insecure-no-auth",
            args.listen
        );
    }
    if !args.listen.ip().is_loopback() {
        tracing::warn!("serving a non-loopback address without authentication");
    }
    Ok(Auth::Open)
}

/// Logs to standard error, at `info` unless `RUST_LOG` says otherwise.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
