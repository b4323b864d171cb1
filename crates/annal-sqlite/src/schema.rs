//! The database schema, its version, and the checks that decide whether a file is an annal
//! store before anything is written to it.
//!
//! Invariants: a file is only ever written after [`inspect`] found it missing, empty, or marked
//! with annal's `application_id` at a schema version this build understands. `user_version`
//! holds the schema version; [`MIGRATIONS`] step it up one version at a time, all the steps of
//! one upgrade in one transaction. `docs/sqlite-schema.md` records the measurements behind the
//! layout and the version log.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::check;
use crate::error::OpenError;

/// `PRAGMA application_id` of every annal store: "ANNL" in ASCII. SQLite stores it in the file
/// header, so `file(1)` and the `sqlite3` shell can tell an annal store from other databases.
pub(crate) const APPLICATION_ID: i32 = 0x414E_4E4C;

/// The schema version this build writes; `user_version` of an up-to-date store.
pub(crate) const SCHEMA_VERSION: i64 = 5;

/// One step of the schema: statements, then perhaps a conversion written in Rust.
struct Migration {
    sql: &'static str,
    then: Option<fn(&Connection) -> rusqlite::Result<()>>,
}

/// `MIGRATIONS[v]` brings a store from schema version `v` to `v + 1`.
const MIGRATIONS: [Migration; 5] = [
    Migration {
        sql: SCHEMA_V1,
        then: None,
    },
    Migration {
        sql: SCHEMA_V2,
        then: None,
    },
    Migration {
        sql: SCHEMA_V3,
        then: Some(ids_into_id_runs),
    },
    Migration {
        sql: SCHEMA_V4,
        then: Some(crate::writer::rekey_ids),
    },
    Migration {
        sql: crate::derived::INDEX_TABLES,
        then: None,
    },
];
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// The first schema. Events live in a rowid table whose key is the global position, so appends
/// go to the right edge of the table. Names (streams, event types, aggregate types) are
/// dictionary-coded to integers, which keeps rows and indexes small. Every index here serves a
/// read and was paid for by measurement (`docs/sqlite-schema.md`): `events_stream` serves stream
/// reads; `events_correlation` and `events_causation` serve those filters and cost nothing for
/// events without the field. There is deliberately no index on the event id (the writer keeps
/// the ids in memory for retries; no read looks events up by id) and none on the type (it cost
/// append throughput, measured in `docs/sqlite-schema.md`; type queries scan in position
/// order).
const SCHEMA_V1: &str = "
CREATE TABLE streams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    truncated_before INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE types (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE aggregate_types (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    stream_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    type_id INTEGER NOT NULL,
    aggregate_type_id INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    id TEXT NOT NULL,
    source TEXT NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    causation_id TEXT,
    correlation_id TEXT
) STRICT;
CREATE UNIQUE INDEX events_stream ON events (stream_id, version);
CREATE INDEX events_correlation ON events (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_causation ON events (causation_id) WHERE causation_id IS NOT NULL;
CREATE TABLE snapshots (
    stream_id INTEGER PRIMARY KEY,
    aggregate_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    timestamp INTEGER NOT NULL
) STRICT;
CREATE TABLE projections (
    name TEXT PRIMARY KEY,
    checkpoint INTEGER NOT NULL,
    state TEXT NOT NULL
) STRICT;
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('head_floor', 0);
CREATE VIEW events_view AS
SELECT e.position, e.id, t.name AS type, s.name AS aggregate_id, a.name AS aggregate_type,
       e.version, e.timestamp, e.source, e.payload, e.metadata, e.causation_id, e.correlation_id
FROM events e
JOIN streams s ON s.id = e.stream_id
JOIN types t ON t.id = e.type_id
JOIN aggregate_types a ON a.id = e.aggregate_type_id;
";

/// Version 2: the writer's id index moves older ids out of memory into a table keyed by the
/// id's hash (`writer/ids.rs`), so the first write after an open scans only the ids after
/// `ids_indexed_through` instead of every row. A store upgraded from version 1 starts with the
/// mark at 0: its first write scans every id once and merges them into the table.
const SCHEMA_V2: &str = "
CREATE TABLE event_ids (
    hash INTEGER PRIMARY KEY,
    position INTEGER NOT NULL
) STRICT;
CREATE TABLE event_ids_more (
    hash INTEGER NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (hash, position)
) STRICT, WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('ids_indexed_through', 0);
";

/// Version 3: the merged ids move from one `event_ids` row per id to sorted id runs packed into
/// blobs (`writer/id_runs.rs`), so a merge writes a few hundred rows in order instead of 32,768
/// rows all over a B-tree. [`ids_into_id_runs`] then moves the stored ids into one id run, reading
/// them in hash order (memory stays at one chunk), and drops the old tables; the mark stays, so the
/// first write after the upgrade loads only the ids after it, as after any open.
const SCHEMA_V3: &str = "
CREATE TABLE id_runs (
    run INTEGER PRIMARY KEY,
    level INTEGER NOT NULL,
    ids INTEGER NOT NULL
) STRICT;
CREATE TABLE id_run_chunks (
    run INTEGER NOT NULL,
    first_key INTEGER NOT NULL,
    entries BLOB NOT NULL,
    PRIMARY KEY (run, first_key)
) STRICT;
";

/// Version 4: the id index is keyed. A random 128-bit key, drawn from SQLite's generator
/// (seeded from the operating system), hashes ids with SipHash-1-3 (`writer/id_hash.rs`), so
/// strangers cannot construct ids that collide; [`crate::writer::rekey_ids`] then rewrites the
/// runs under the new key. `writer_open` is 1 from a writer's open to its clean close and is
/// copied into the database file itself at both, so a database file read without its WAL tells
/// whether commits may be missing from it (`open.rs`).
const SCHEMA_V4: &str = "
INSERT OR REPLACE INTO meta (key, value)
VALUES ('id_hash_key_0', random()), ('id_hash_key_1', random());
INSERT OR IGNORE INTO meta (key, value) VALUES ('writer_open', 0);
";

// Version 5 is the derived index (`derived.rs`): postings by type, aggregate type and source,
// per-block time bounds and maintained counts, empty with the watermark at 0 after the
// upgrade; the writer's open then indexes the stored events in chunks.

/// The conversion of version 3: version 2's id tables become one id run, then go.
fn ids_into_id_runs(connection: &Connection) -> rusqlite::Result<()> {
    crate::writer::convert_version_2_ids(connection)?;
    connection.execute_batch("DROP TABLE event_ids; DROP TABLE event_ids_more;")
}

/// What [`inspect`] found at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No file.
    Missing,
    /// A file with no content yet (zero bytes, or a SQLite database without tables).
    Empty,
    /// An annal store at this schema version (never newer than [`SCHEMA_VERSION`]).
    Annal(i64),
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Decides what `path` holds without writing to it: the file header first, then a read-only
/// connection for the application id, schema version and table list, then the open's cheap
/// check (`check.rs`). `lock_text` is what the lock file held before this process took it;
/// `None` reads it now.
pub(crate) fn inspect(path: &Path, lock_text: Option<&str>) -> Result<Found, OpenError> {
    let io = |context, source| OpenError::Io {
        context,
        path: path.to_path_buf(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(source) => return Err(io("opening", source)),
    };
    let len = file
        .metadata()
        .map_err(|source| io("reading the size of", source))?
        .len();
    if len == 0 {
        return Ok(Found::Empty);
    }
    let mut magic = [0u8; 16];
    let header = file.read_exact(&mut magic);
    if header.is_err() || &magic != SQLITE_MAGIC {
        return Err(not_annal(path, "it is not a SQLite database"));
    }
    drop(file);
    let connection = open_for_inspection(path).map_err(|e| classify(path, e))?;
    let read = |sql: &str| connection.query_row(sql, [], |row| row.get::<_, i64>(0));
    let application_id = read("PRAGMA application_id").map_err(|e| classify(path, e))?;
    let user_version = read("PRAGMA user_version").map_err(|e| classify(path, e))?;
    let tables = read("SELECT count(*) FROM sqlite_schema").map_err(|e| classify(path, e))?;
    if application_id == i64::from(APPLICATION_ID) {
        if user_version > SCHEMA_VERSION {
            return Err(OpenError::NewerSchema {
                path: path.to_path_buf(),
                found: user_version,
                supported: SCHEMA_VERSION,
            });
        }
        if user_version < 1 {
            return Err(not_annal(
                path,
                "it has annal's application id but no schema version",
            ));
        }
        let peeked;
        let lock_text = match lock_text {
            Some(text) => text,
            None => {
                peeked = crate::lock::peek(path);
                &peeked
            }
        };
        check::cheap(path, &connection, user_version, lock_text)?;
        return Ok(Found::Annal(user_version));
    }
    if application_id == 0 && user_version == 0 && tables == 0 {
        return Ok(Found::Empty);
    }
    Err(not_annal(
        path,
        "it is a SQLite database without annal's application id (a seed events.db, say, is \
         imported with `annal import`, not opened)",
    ))
}

/// A read-only connection that leaves no trace. Without a WAL file next to the database, the
/// file alone is the truth, so it is opened `immutable` and SQLite creates no `-shm`/`-wal`
/// sidecars (a refused file stays exactly as it was, sidecars included). With a WAL present
/// (a writer is running, or one crashed), the WAL must be read too.
pub(crate) fn open_for_inspection(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Connection::open_with_flags(path, flags);
    }
    let Some(text) = path.to_str() else {
        // A path that is not UTF-8 cannot go into a URI; the plain open still reads correctly.
        return Connection::open_with_flags(path, flags);
    };
    let mut uri = String::from("file:");
    for byte in text.bytes() {
        match byte {
            b'%' | b'?' | b'#' => uri.push_str(&format!("%{byte:02X}")),
            _ => uri.push(char::from(byte)),
        }
    }
    uri.push_str("?immutable=1");
    Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
}

/// Creates or upgrades the schema on the writer's connection, under the writer lock.
///
/// Re-checks the markers inside the write transaction, so a file that changed since
/// [`inspect`] is still never written unless it is ours.
pub(crate) fn migrate(connection: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let sqlite = |context: &'static str| {
        move |source| OpenError::Sqlite {
            context,
            path: path.to_path_buf(),
            source,
        }
    };
    let transaction = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite("starting the schema transaction on"))?;
    let read = |sql: &str| transaction.query_row(sql, [], |row| row.get::<_, i64>(0));
    let application_id = read("PRAGMA application_id").map_err(|e| classify(path, e))?;
    let mut version = read("PRAGMA user_version").map_err(|e| classify(path, e))?;
    let tables = read("SELECT count(*) FROM sqlite_schema").map_err(|e| classify(path, e))?;
    let fresh = application_id == 0 && version == 0 && tables == 0;
    if !fresh && application_id != i64::from(APPLICATION_ID) {
        return Err(not_annal(
            path,
            "it changed into a non-annal database while opening",
        ));
    }
    if version > SCHEMA_VERSION {
        let found = version;
        return Err(OpenError::NewerSchema {
            path: path.into(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        // Up to date: leave the file exactly as it is.
        return Ok(());
    }
    while version < SCHEMA_VERSION {
        let step = usize::try_from(version).map_err(|_| not_annal(path, "negative version"))?;
        let migration = &MIGRATIONS[step];
        transaction
            .execute_batch(migration.sql)
            .map_err(sqlite("creating the schema in"))?;
        if let Some(convert) = migration.then {
            convert(&transaction).map_err(sqlite("converting the stored ids of"))?;
        }
        version += 1;
    }
    let markers = format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    );
    transaction
        .execute_batch(&markers)
        .map_err(sqlite("marking the schema of"))?;
    transaction
        .commit()
        .map_err(sqlite("committing the schema of"))
}

/// A new in-memory database with the current schema, for unit tests.
#[cfg(test)]
pub(crate) fn migrated_in_memory() -> Connection {
    let mut connection = match Connection::open_in_memory() {
        Ok(connection) => connection,
        Err(error) => panic!("opening an in-memory database: {error}"),
    };
    if let Err(error) = migrate(&mut connection, Path::new(":memory:")) {
        panic!("creating the schema in memory: {error}");
    }
    connection
}

fn not_annal(path: &Path, reason: &str) -> OpenError {
    OpenError::NotAnnalStore {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

/// Turns a SQLite error met while opening into [`OpenError::Damaged`] when SQLite says the file
/// is not a database or is corrupt, and [`OpenError::Sqlite`] otherwise.
pub(crate) fn classify(path: &Path, source: rusqlite::Error) -> OpenError {
    let path: PathBuf = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            OpenError::Damaged { path, source }
        }
        _ => OpenError::Sqlite {
            context: "reading the header of",
            path,
            source,
        },
    }
}
