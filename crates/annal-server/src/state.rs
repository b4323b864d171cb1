//! What every handler shares: the store, the settings, the token check, the subscriber cap, the
//! shared tail and the shutdown signal.

use std::sync::Arc;

use annal_core::Store;
use tokio::sync::{OnceCell, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::config::ServerConfig;
use crate::routes::projections::Projections;
use crate::tail::Tail;

/// The state behind the router. Cloning it is cheap (handles only).
#[derive(Clone)]
pub struct AppState {
    /// The store every route serves.
    pub store: Arc<dyn Store>,
    /// The settings.
    pub config: Arc<ServerConfig>,
    /// How callers are authenticated.
    pub auth: Arc<Auth>,
    /// One permit per live SSE subscriber.
    pub subscribers: Arc<Semaphore>,
    /// Cancelled when the server shuts down: ends SSE streams.
    pub shutdown: CancellationToken,
    /// The swarm projections, kept caught up between requests.
    pub(crate) projections: Arc<Projections>,
    /// The shared reader live subscribers follow, started with the first of them.
    pub(crate) tail: Arc<OnceCell<Tail>>,
}

impl AppState {
    /// State for `store` with `config` and `auth`.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig, auth: Auth) -> Self {
        Self {
            subscribers: Arc::new(Semaphore::new(config.subscribers_max)),
            store,
            config: Arc::new(config),
            auth: Arc::new(auth),
            shutdown: CancellationToken::new(),
            projections: Arc::new(Projections::default()),
            tail: Arc::new(OnceCell::new()),
        }
    }
}
