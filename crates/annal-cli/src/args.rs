//! The command line's grammar, as clap derive types. Global flags (`--store`, `--json`,
//! `--lock-timeout`) are accepted before or after the command name.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// annal: an event store for the state of AI-agent swarms.
#[derive(Debug, Parser)]
#[command(name = "annal", version, about)]
pub struct Cli {
    /// The store: a file path for the embedded SQLite store, `ndjson:DIR` for an NDJSON
    /// directory, or a `postgres://` URL. Writing commands create it.
    // The value may be a URL with a password: help must not print what the environment holds.
    #[arg(
        long,
        global = true,
        env = "ANNAL_STORE",
        hide_env_values = true,
        default_value = "annal.db"
    )]
    pub store: String,

    /// Machine output: one JSON object, or NDJSON for event streams.
    #[arg(long, global = true)]
    pub json: bool,

    /// How long a writing command waits for another writer to release the store.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "5s")]
    pub lock_timeout: Duration,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every `annal` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty store (a no-op on an existing one).
    Init,
    /// Append one event, or NDJSON events from standard input.
    Append(AppendArgs),
    /// Read one stream.
    Read(ReadArgs),
    /// Query events by type, stream, source, ids and time.
    Query(QueryArgs),
    /// Print every event in position order.
    Replay(ReplayArgs),
    /// Print events as they are committed, until interrupted.
    Tail(TailArgs),
    /// Counts: events, types, streams, time span, size.
    Stats(StatsArgs),
    /// Why an event happened and what it led to: its causes, effects and correlated events.
    Trace(TraceArgs),
    /// Serve the store to MCP clients over standard input and output.
    Mcp(McpArgs),
    /// Save or print an aggregate snapshot.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Bring a projection up to date and query it.
    Project(ProjectArgs),
    /// Remove a stream's events before a version.
    Truncate(TruncateArgs),
    /// Remove a stream's events and snapshot (versions and positions are never reused).
    Delete(DeleteArgs),
    /// Store-wide retention: keep the newest events, or drop old ones.
    Retain(RetainArgs),
    /// Check the whole store: contiguous versions, increasing positions, parsable payloads.
    Verify(VerifyArgs),
    /// Import events: annal NDJSON, a seed SQLite database or a seed run ledger directory.
    Import(ImportArgs),
    /// Export events as NDJSON, or the run events as a seed ledger directory.
    Export(ExportArgs),
    /// Copy the store consistently while writers keep running.
    Backup(BackupArgs),
    /// Simulate a swarm writing into the store, then report what it did.
    Demo(DemoArgs),
    /// Run workload wl1 on fresh embedded stores and compare with the seed and the hardware.
    Bench(BenchArgs),
    /// Serve the store over HTTP: the JSON API, live subscriptions (SSE), OpenAPI, metrics.
    Serve(ServeArgs),
    /// Create, list and revoke the server's access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

/// `annal append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The stream (aggregate id) to append to; not used with --stdin.
    #[arg(required_unless_present = "stdin")]
    pub stream: Option<String>,
    /// The event type, e.g. `task:completed`.
    #[arg(long = "type", required_unless_present = "stdin")]
    pub event_type: Option<String>,
    /// The payload, a JSON object.
    #[arg(long, required_unless_present = "stdin")]
    pub data: Option<String>,
    /// any, no-stream, exists, or a version number.
    #[arg(long, default_value = "any")]
    pub expected_version: String,
    /// The event id (the idempotency key); generated when absent.
    #[arg(long)]
    pub id: Option<String>,
    /// The aggregate type; defaults to the type's domain.
    #[arg(long)]
    pub aggregate_type: Option<String>,
    /// Who emitted the event.
    #[arg(long)]
    pub source: Option<String>,
    /// What caused it.
    #[arg(long)]
    pub causation_id: Option<String>,
    /// The run it belongs to.
    #[arg(long)]
    pub correlation_id: Option<String>,
    /// Metadata, a JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Read NDJSON events (envelopes with `aggregateId`) from standard input; print one line
    /// per event as soon as it is durably committed. A bad or refused line stops the command
    /// after every earlier line is committed, and the error names it. Sending the same input
    /// again is an idempotent retry for lines with an `id` (stored ones are answered with
    /// their stored position). A closed standard output (`| head`) stops the printing, not the
    /// appending.
    #[arg(long, conflicts_with_all = ["stream", "event_type", "data"])]
    pub stdin: bool,
}

/// `annal read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The stream to read.
    pub stream: String,
    /// The first version to print.
    #[arg(long)]
    pub from_version: Option<u64>,
    /// Newest first.
    #[arg(long)]
    pub backward: bool,
    /// At most this many events.
    #[arg(long)]
    pub limit: Option<u64>,
}

/// The filter flags shared by query, tail and export.
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Event types (repeatable, or comma-separated).
    #[arg(long = "type", value_delimiter = ',')]
    pub event_types: Vec<String>,
    /// Streams (repeatable, or comma-separated).
    #[arg(long = "stream", value_delimiter = ',')]
    pub streams: Vec<String>,
    /// Aggregate types (repeatable, or comma-separated).
    #[arg(long = "aggregate-type", value_delimiter = ',')]
    pub aggregate_types: Vec<String>,
    /// Exactly this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Exactly this correlation id.
    #[arg(long)]
    pub correlation_id: Option<String>,
    /// Exactly this causation id.
    #[arg(long)]
    pub causation_id: Option<String>,
    /// Events at or after this time: ms since the epoch or RFC 3339.
    #[arg(long)]
    pub from_time: Option<String>,
    /// Events before this time: ms since the epoch or RFC 3339.
    #[arg(long)]
    pub to_time: Option<String>,
}

/// `annal query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Which events.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many events.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Skip this many matching events first.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Newest first.
    #[arg(long)]
    pub backward: bool,
}

/// `annal replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The first position to print.
    #[arg(long, default_value_t = 0)]
    pub from_position: u64,
}

/// `annal tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The first position to print (default: only new events).
    #[arg(long)]
    pub from_position: Option<u64>,
    /// Which events.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Stop after this many events.
    #[arg(long)]
    pub limit: Option<u64>,
}

/// `annal stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// How many of the largest streams to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// `annal trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The id of the event to trace.
    pub event_id: String,
    /// At most this many causes (the nearest ones).
    #[arg(long, default_value_t = 100)]
    pub causes: usize,
    /// At most this many effects, nearest first.
    #[arg(long, default_value_t = 100)]
    pub effects: usize,
    /// At most this many events sharing the correlation id.
    #[arg(long, default_value_t = 100)]
    pub correlated: usize,
}

/// `annal mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Open the store for writing and list the tools that change state (swarm writes and
    /// `events_append`); without it the store is opened read-only and they are not listed.
    #[arg(long)]
    pub allow_writes: bool,
}

/// `annal snapshot`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save a snapshot of a stream at a version.
    Save {
        /// The stream.
        stream: String,
        /// The last version the state covers.
        #[arg(long)]
        version: u64,
        /// The state, a JSON object.
        #[arg(long)]
        state: String,
        /// The aggregate type; defaults to the stream's events' type.
        #[arg(long)]
        aggregate_type: Option<String>,
    },
    /// Print a stream's snapshot.
    Get {
        /// The stream.
        stream: String,
    },
}

/// `annal project`.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Which projection.
    #[command(subcommand)]
    pub command: ProjectCommand,
}

/// The three projections and their query flags.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Agent state: status, role, domain, task counts, health.
    Agents {
        /// Only agents with this status (idle, active, blocked, completed, error).
        #[arg(long)]
        status: Option<String>,
        /// Only agents of this domain.
        #[arg(long)]
        domain: Option<String>,
        /// Show at most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Task history: status, priority, agent, durations, success and failure rates.
    Tasks {
        /// Only tasks with this status.
        #[arg(long)]
        status: Option<String>,
        /// Only tasks assigned to this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only tasks of this priority.
        #[arg(long)]
        priority: Option<String>,
        /// Only blocked tasks.
        #[arg(long)]
        blocked: bool,
        /// Show at most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Memory index: sizes per namespace, access counts, deletions and expirations.
    Memory {
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// The N most accessed live memories.
        #[arg(long)]
        top: Option<usize>,
    },
}

/// `annal truncate`.
#[derive(Debug, Args)]
pub struct TruncateArgs {
    /// The stream.
    pub stream: String,
    /// Remove versions before this one.
    #[arg(long)]
    pub before: u64,
    /// Also remove events the stream's snapshot does not cover.
    #[arg(long)]
    pub force: bool,
}

/// `annal delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The stream.
    pub stream: String,
    /// any, no-stream, exists, or a version number.
    #[arg(long, default_value = "any")]
    pub expected_version: String,
}

/// `annal retain`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("policy").required(true).multiple(true)))]
pub struct RetainArgs {
    /// Keep at most this many events (the newest).
    #[arg(long, group = "policy")]
    pub max_events: Option<u64>,
    /// Remove events older than this, e.g. `7d`, `12h`: each stream's oldest events up to its
    /// first younger one (timestamps are the writer's, so a stream never loses a middle part).
    #[arg(long, group = "policy", value_parser = parse_duration)]
    pub max_age: Option<Duration>,
    /// Also remove events newer than their stream's snapshot.
    #[arg(long)]
    pub force: bool,
}

/// What `annal import` reads.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ImportFormat {
    /// The seed event store's SQLite file (`events.db`): tables `events` and `snapshots`.
    SeedSqlite,
    /// The seed guidance ledger's directory: `events.ndjson` of run events.
    SeedLedger,
    /// annal envelopes, one per line (annal's own export format).
    Ndjson,
}

/// What `annal export` writes.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    /// annal envelopes, one per line.
    Ndjson,
    /// A seed guidance ledger directory (`events.ndjson`, `index.json`) of the run events.
    SeedLedger,
}

/// `annal import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file or directory to import.
    pub source: PathBuf,
    /// The source format; detected when absent (a directory holding `events.ndjson` is a seed
    /// ledger, a SQLite file a seed database, anything else NDJSON).
    #[arg(long, value_enum)]
    pub format: Option<ImportFormat>,
}

/// `annal export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Which events.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The output format.
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: ExportFormat,
    /// Write here instead of standard output (a new or empty directory for seed-ledger).
    #[arg(long, required_if_eq("format", "seed-ledger"))]
    pub output: Option<PathBuf>,
}

/// `annal backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist): a SQLite file, an NDJSON store directory, or a
    /// pg_dump file for a PostgreSQL store.
    pub dest: PathBuf,
}

/// `annal verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also check the file itself: SQLite's full integrity_check (every page, every index
    /// entry against its row). Takes about as long as reading the whole file.
    #[arg(long)]
    pub deep: bool,
}

/// `annal demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many agents to spawn.
    #[arg(long, default_value_t = 16)]
    pub agents: u64,
    /// How many tasks to run.
    #[arg(long, default_value_t = 200)]
    pub tasks: u64,
}

/// `annal bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events of workload wl1 to run (the seed baseline used 1,000, 10,000 and 100,000).
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Events appended one at a time, each waiting for its own fsync.
    #[arg(long, default_value_t = 2_000)]
    pub one_at_a_time: u64,
    /// The directory to create the bench's stores in (it picks the disk); a fresh temporary
    /// directory inside it is removed afterwards. The `--store` flag is not used.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Measure cost as the store grows instead: build a wl1 store of each of --scale-sizes
    /// events and time fixed-size reads, reopen, the first append and RSS on each.
    #[arg(long)]
    pub scale: bool,
    /// The store sizes of --scale, in events.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,10000000")]
    pub scale_sizes: Vec<u64>,
    /// The backend of --scale: sqlite or ndjson.
    #[arg(long, default_value = "sqlite")]
    pub scale_backend: String,
    /// Keep the --scale stores in this directory (`wl1-N.db`, `wl1-N` for NDJSON) and reuse
    /// one already there instead of building it again (its build row is then empty). Without
    /// it, each store is built in a temporary directory and removed after its steps.
    #[arg(long)]
    pub scale_keep: Option<PathBuf>,
    /// Internal: time the --scale steps on the store at this location, built with --events.
    #[arg(long, hide = true)]
    pub scale_one: Option<String>,
    /// Internal: the wl1 event --scale-one appends (its index; --events by default, the next
    /// one after a fresh build).
    #[arg(long, hide = true)]
    pub scale_next: Option<u64>,
}

/// `annal serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; loopback by default. A non-loopback address needs tokens.
    #[arg(long, env = "ANNAL_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: std::net::SocketAddr,
    /// The token file (default: beside the store, `<store>.tokens.json`). Without one, the
    /// server runs without authentication, on loopback only.
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Serve a non-loopback address without authentication.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// TLS certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Most live SSE subscribers; one more is answered 503.
    #[arg(long, default_value_t = 1024)]
    pub max_subscribers: usize,
    /// The largest request body in bytes (also bounded by the store's batch limits).
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    pub max_body: usize,
    /// How often idle SSE connections get a heartbeat.
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub heartbeat: Duration,
    /// A client must send its request headers within this time.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub header_timeout: Duration,
    /// A client must send its request body within this time.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub body_timeout: Duration,
}

/// `annal token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown this once; only its hash is stored).
    Create {
        /// Scopes: read, append, admin (admin implies the others), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        /// Streams the token may touch: exact ids, or prefixes ending in `*`
        /// (`agent-7,task-*`). Default: every stream.
        #[arg(long, value_delimiter = ',')]
        streams: Vec<String>,
        /// A name for people.
        #[arg(long, default_value = "")]
        name: String,
        /// The token file (default: beside the store).
        #[arg(long)]
        tokens: Option<PathBuf>,
    },
    /// List tokens (never their secrets).
    List {
        /// The token file (default: beside the store).
        #[arg(long)]
        tokens: Option<PathBuf>,
    },
    /// Revoke a token by id; a running server refuses it from its next request.
    Revoke {
        /// The token's id (`tok_...`).
        id: String,
        /// The token file (default: beside the store).
        #[arg(long)]
        tokens: Option<PathBuf>,
    },
}

/// `annal completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// Parses `500ms`, `5s`, `2m`, `7d`, ... (humantime's grammar).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{text:?} is not a duration: {error}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
