//! The server's settings, with safe defaults: loopback, bounded bodies, bounded subscribers,
//! timeouts that cut off clients that send too slowly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use annal_core::Limits;

/// The default address: loopback only, so nothing outside the machine reaches an unconfigured
/// server.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// Per-event bytes a body may hold beyond payload and metadata: the envelope's other fields and
/// JSON punctuation (ids, type, source, causation and correlation ids are each at most 256 bytes).
const ENVELOPE_BYTES_MAX: usize = 2048;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The store's limits; the body limit is derived from them.
    pub limits: Limits,
    /// The largest request body accepted, whatever the batch limits allow.
    pub body_bytes_cap: usize,
    /// Most SSE subscribers at once; one more is answered 503.
    pub subscribers_max: usize,
    /// How often an idle SSE connection gets a comment line.
    pub heartbeat: Duration,
    /// A client must send its request headers within this time.
    pub header_read_timeout: Duration,
    /// A client must send its whole request body within this time.
    pub body_read_timeout: Duration,
    /// Reads of more events than this answer as NDJSON only (a JSON array is for small reads).
    pub json_array_events_max: u64,
    /// The token file; `None` serves without authentication.
    pub tokens: Option<PathBuf>,
    /// TLS certificate chain and private key (PEM).
    pub tls: Option<TlsFiles>,
}

/// PEM files for TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            limits: Limits::default(),
            body_bytes_cap: 32 * 1024 * 1024,
            subscribers_max: 1024,
            heartbeat: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            json_array_events_max: 10_000,
            tokens: None,
            tls: None,
        }
    }
}

impl ServerConfig {
    /// The largest request body: a full batch of the largest events, capped by
    /// `body_bytes_cap`, but never below one largest event, so any event the store accepts fits.
    pub fn body_bytes_max(&self) -> usize {
        let event_bytes_max = self
            .limits
            .payload_bytes_max
            .saturating_add(self.limits.metadata_bytes_max)
            .saturating_add(ENVELOPE_BYTES_MAX);
        let batch_bytes_max = event_bytes_max.saturating_mul(self.limits.batch_events_max);
        batch_bytes_max.min(self.body_bytes_cap.max(event_bytes_max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_limit_follows_the_batch_limits() {
        let mut config = ServerConfig::default();
        assert_eq!(config.body_bytes_max(), 32 * 1024 * 1024);
        config.limits.batch_events_max = 2;
        let event = config.limits.payload_bytes_max + config.limits.metadata_bytes_max + 2048;
        assert_eq!(config.body_bytes_max(), 2 * event);
        config.limits.batch_events_max = 10_000;
        config.body_bytes_cap = 10;
        assert_eq!(config.body_bytes_max(), event);
    }
}
