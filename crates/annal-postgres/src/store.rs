//! [`PostgresStore`]: the [`Store`] implementation over one PostgreSQL database.
//!
//! Writes travel to this process's writer task as commands and wait for their answer; reads
//! run on pooled connections, one statement per page. A handle is cheap to clone; the writer
//! task ends when the last handle that can write is dropped, and the listener when the last
//! handle or subscription is.

use std::sync::Arc;

use annal_core::backend::{
    Append, PAGE_EVENTS, Reply, StreamPage, WriterQueue, follow, paged, prepare_batch, stream_pages,
};
use annal_core::{
    AppendError, AppendResult, CheckpointError, Clock, EventId, EventStream, ExpectedVersion,
    Filter, Limits, NewEvent, Position, ProjectionName, ReadError, ReadStreamOptions,
    RecordedEvent, RetentionError, RetentionPolicy, RetentionReport, SavedProjection, Snapshot,
    SnapshotError, Stats, StorageError, Store, StreamId, Trace, TraceError, TraceLimits, Version,
};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{Notify, watch};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::ConnectError;
use crate::listen::Listener;
use crate::options::PostgresOptions;
use crate::read::{self, QueryCursor};
use crate::retry::read_with_retry;
use crate::schema;
use crate::tls::{TlsMode, TlsOptions};
use crate::writer::{self, Command};

/// An annal store in a PostgreSQL database. Cloning gives another handle to the same store.
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
    /// The queue into the writer task; `None` in a read-only store and in the read view that
    /// subscriptions hold, so a subscription never keeps the writer task alive.
    writer: Option<WriterQueue<Command>>,
}

struct Shared {
    pool: Pool,
    head: watch::Receiver<Position>,
    /// Wakes the listener, which follows other processes' commits only while a subscription
    /// lives (`listen.rs`).
    listener_wanted: Arc<Notify>,
    limits: Limits,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("head", &*self.shared.head.borrow())
            .finish_non_exhaustive()
    }
}

/// The answer to a write whose writer task is gone (the runtime is shutting down).
fn writer_gone() -> StorageError {
    StorageError::Closed
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgresql://` URL or a `key=value` string, as
    /// libpq takes them) with default options, creating or migrating annal's tables.
    ///
    /// Must be called inside a tokio runtime: the store runs a writer task and a listener task
    /// on it.
    /// TLS follows libpq's `sslmode` and `sslrootcert` (see `tls.rs`).
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let (config, tls) = crate::parse_connection_string(url)?;
        Self::connect_with(config, PostgresOptions::default().tls(tls)).await
    }

    /// Connects with a parsed configuration and `options`.
    pub async fn connect_with(
        mut config: tokio_postgres::Config,
        options: PostgresOptions,
    ) -> Result<Self, ConnectError> {
        let tls = match &options.tls {
            Some(tls) => tls.clone(),
            None => TlsOptions {
                mode: match config.get_ssl_mode() {
                    SslMode::Disable => TlsMode::Disable,
                    SslMode::Require => TlsMode::Require,
                    _ => TlsMode::Prefer,
                },
                root_cert: None,
            },
        };
        config.ssl_mode(tls.mode.ssl_mode());
        session_settings(&mut config);
        let connector = crate::tls::connector(&tls)?;
        let pool = new_pool(config.clone(), &connector, options.pool_size)?;
        let mut client = pool
            .get()
            .await
            .map_err(|source| ConnectError::NoConnection { source })?;
        if options.read_only {
            schema::check(&client).await?;
        } else {
            schema::migrate(&mut client).await?;
        }
        drop(client);
        let start = read_with_retry(&pool, "reading the head", read::head)
            .await
            .map_err(|error| ConnectError::NotAnnalStore {
                reason: format!("the head row does not read: {error}"),
            })?;
        let (sender, head) = watch::channel(start);
        let sender = Arc::new(sender);
        let writer = if options.read_only {
            None
        } else {
            let (queue, receiver) = WriterQueue::new(writer_gone);
            // The writer task and the fold, one connection each.
            let writing = new_pool(writer_settings(config.clone()), &connector, 2)?;
            tokio::spawn(writer::run(writing.clone(), Arc::clone(&sender), receiver));
            tokio::spawn(writer::fold::run(writing, Arc::clone(&sender)));
            Some(queue)
        };
        let listener_wanted = Arc::new(Notify::new());
        let listener = Listener {
            pool: pool.clone(),
            head: sender,
            wanted: Arc::clone(&listener_wanted),
            poll_interval: options.poll_interval,
        };
        tokio::spawn(crate::listen::run(config, connector, listener));
        let shared = Shared {
            pool,
            head,
            listener_wanted,
            limits: options.limits,
            clock: options.clock,
        };
        Ok(Self {
            shared: Arc::new(shared),
            writer,
        })
    }

    /// Compares the data derived from the events (the maintained counts, with the events past
    /// the counting watermark added, and the time bounds of each run of positions) with a
    /// recount, as `annal verify` does; returns the problems found, each naming its table. It
    /// reads the whole log in one read snapshot, beside any writer.
    pub async fn check_index(&self) -> Result<Vec<String>, ReadError> {
        read_with_retry(
            &self.shared.pool,
            "checking the counts",
            crate::check::check_index,
        )
        .await
    }

    /// A handle that reads this store but does not keep the writer task alive.
    fn read_view(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            writer: None,
        }
    }

    /// Sends a command to the writer and waits for its answer.
    async fn send<T, E>(&self, command: impl FnOnce(Reply<T, E>) -> Command) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let Some(writer) = &self.writer else {
            return Err(StorageError::ReadOnly.into());
        };
        writer.request(command).await
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError> {
        let batch = prepare_batch(events, &self.shared.limits, self.shared.clock.now_ms())?;
        let stream = stream.clone();
        self.send(|reply| {
            Command::Append(Append {
                stream,
                expected,
                batch,
                reply,
            })
        })
        .await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, ReadError> {
        read_with_retry(&self.shared.pool, "reading a stream version", |client| {
            read::stream_version(client, stream)
        })
        .await
    }

    async fn head(&self) -> Result<Position, ReadError> {
        read_with_retry(&self.shared.pool, "reading the head", read::head).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        options: ReadStreamOptions,
    ) -> Result<EventStream, ReadError> {
        let pool = self.shared.pool.clone();
        let stream = stream.clone();
        Ok(stream_pages(options, move |page: StreamPage| {
            let pool = pool.clone();
            let stream = stream.clone();
            async move {
                read_with_retry(&pool, "reading a stream", |client| {
                    read::stream_page(client, &stream, page.direction, page.bound, page.events)
                })
                .await
            }
        }))
    }

    async fn read_all(&self, from: Position) -> Result<EventStream, ReadError> {
        let pool = self.shared.pool.clone();
        Ok(paged(Some(from), move |from: Option<Position>| {
            let pool = pool.clone();
            async move {
                let Some(from) = from else { return Ok(None) };
                let events = read_with_retry(&pool, "reading all events", |client| {
                    read::all_page(client, from, PAGE_EVENTS)
                })
                .await?;
                let Some(last) = events.last() else {
                    return Ok(None);
                };
                // A short page is the last one; ending here saves an empty round trip.
                let next = (events.len() == PAGE_EVENTS).then(|| last.position.next());
                Ok(Some((events, next)))
            }
        }))
    }

    async fn query(&self, filter: &Filter) -> Result<EventStream, ReadError> {
        filter.validate()?;
        let pool = self.shared.pool.clone();
        let filter = Arc::new(filter.clone());
        let start = QueryCursor {
            after: None,
            remaining: filter.limit,
            done: false,
        };
        Ok(paged(start, move |cursor: QueryCursor| {
            let pool = pool.clone();
            let filter = Arc::clone(&filter);
            async move {
                read_with_retry(&pool, "querying events", |client| {
                    read::query_page(client, &filter, cursor, PAGE_EVENTS)
                })
                .await
            }
        }))
    }

    async fn subscribe(&self, from: Position, filter: Filter) -> Result<EventStream, ReadError> {
        // The receiver first: the listener counts subscriptions by receivers when it wakes.
        let head = self.shared.head.clone();
        self.shared.listener_wanted.notify_one();
        follow(self.read_view(), head, from, filter)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), SnapshotError> {
        annal_core::decide::snapshot_well_formed(&snapshot)?;
        self.send(|reply| Command::SaveSnapshot { snapshot, reply })
            .await
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, ReadError> {
        read_with_retry(&self.shared.pool, "loading a snapshot", |client| {
            read::load_snapshot(client, stream)
        })
        .await
    }

    async fn truncate_before(
        &self,
        stream: &StreamId,
        before: Version,
        force: bool,
    ) -> Result<RetentionReport, RetentionError> {
        let stream = stream.clone();
        self.send(|reply| Command::Truncate {
            stream,
            before,
            force,
            reply,
        })
        .await
    }

    async fn delete_stream(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> Result<RetentionReport, RetentionError> {
        let stream = stream.clone();
        self.send(|reply| Command::Delete {
            stream,
            expected,
            reply,
        })
        .await
    }

    async fn retain(&self, policy: RetentionPolicy) -> Result<RetentionReport, RetentionError> {
        self.send(|reply| Command::Retain { policy, reply }).await
    }

    async fn event_by_id(&self, id: &EventId) -> Result<Option<RecordedEvent>, ReadError> {
        read_with_retry(&self.shared.pool, "looking up an event", |client| {
            read::event_by_id(client, id)
        })
        .await
    }

    async fn trace(&self, id: &EventId, limits: TraceLimits) -> Result<Trace, TraceError> {
        let trace = read_with_retry(&self.shared.pool, "tracing an event", |client| {
            read::trace(client, id, limits)
        })
        .await?;
        trace.ok_or_else(|| TraceError::NotFound { id: id.clone() })
    }

    async fn stats(&self, top_streams: usize) -> Result<Stats, ReadError> {
        read_with_retry(&self.shared.pool, "computing stats", |client| {
            read::stats(client, top_streams)
        })
        .await
    }

    async fn save_projection(
        &self,
        name: &ProjectionName,
        saved: &SavedProjection,
    ) -> Result<(), CheckpointError> {
        let name = name.clone();
        let saved = saved.clone();
        self.send(|reply| Command::SaveProjection { name, saved, reply })
            .await
    }

    async fn load_projection(
        &self,
        name: &ProjectionName,
    ) -> Result<Option<SavedProjection>, ReadError> {
        read_with_retry(&self.shared.pool, "loading a projection", |client| {
            read::load_projection(client, name)
        })
        .await
    }
}

/// A pool of at most `size` connections made from `config`.
fn new_pool(
    config: tokio_postgres::Config,
    connector: &MakeRustlsConnect,
    size: usize,
) -> Result<Pool, ConnectError> {
    let manager = Manager::from_config(
        config,
        connector.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|source| ConnectError::Pool { source })
}

/// The writer's connections also plan each prepared statement once: the write statement's
/// plan does not depend on its values, and left to itself PostgreSQL plans it anew on every
/// execution (its arrays' lengths make each custom plan look cheaper than the generic one),
/// which costs more than executing it. Readers keep custom plans: a query's best plan depends
/// on how rare its values are.
fn writer_settings(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    let options = format!(
        "{} -c plan_cache_mode=force_generic_plan",
        config.get_options().unwrap_or_default()
    );
    config.options(options);
    config
}

/// Settings every connection of the store runs with, whatever the server's defaults: commits
/// wait for their flush (an acknowledged append is durable), and a transaction left idle by a
/// stalled client releases its locks (the head lock among them) after 10 s. Appended to the
/// caller's own `options`, so theirs still apply.
fn session_settings(config: &mut tokio_postgres::Config) {
    let ours = "-c synchronous_commit=on -c idle_in_transaction_session_timeout=10s";
    let options = match config.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {ours}"),
        _ => ours.to_owned(),
    };
    config.options(options);
}
