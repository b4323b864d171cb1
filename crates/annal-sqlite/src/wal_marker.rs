//! `meta.writer_open`: 1 from a writer's open to its clean close, and copied into the database
//! file itself at both, so that the file alone tells whether commits may live in a WAL beside
//! it.
//!
//! In WAL mode a commit reaches the database file only at a checkpoint. A copy of the file
//! without its `-wal` is an older state of the store (or, for a store whose WAL was never
//! checkpointed, a database without tables), and a writer would carry on from there, reusing
//! positions the store had acknowledged. With the marker, the open's check (`check.rs`) finds
//! `writer_open = 1` in a file with no WAL beside it and refuses it ([`OpenError::MissingWal`]).
//!
//! Invariant: while a writer may have commits that are only in the WAL, the database file
//! holds `writer_open = 1`: a new store writes it before it enters WAL mode (then commits it
//! once more, which creates the WAL file), an existing one commits it and checkpoints it at
//! the open, before any append. A writer killed between a new store's two commits leaves a
//! file that is refused although nothing is missing from it: a store that never held an event,
//! which can be deleted. (If a reader in another
//! process holds the checkpoint back, the file keeps the previous clean close's state, whose
//! data is all in it; the marker reaches it at the next checkpoint.)
//!
//! [`OpenError::MissingWal`]: crate::OpenError::MissingWal

use rusqlite::Connection;
use rusqlite::config::DbConfig;

use crate::connection::enter_wal;

/// Sets the marker at a writer's open. `fresh`: the store was just created in rollback mode,
/// so the marker goes straight into the file and WAL mode starts afterwards.
pub(crate) fn mark_open(connection: &Connection, fresh: bool) -> rusqlite::Result<()> {
    // From here until `mark_closed`, closing the connection must not checkpoint the WAL into
    // the file and delete it: after a failure (this open's, or a poisoned writer's) that would
    // leave `writer_open = 1` in a file without a WAL, which every later open refuses.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    let mark = || connection.execute("UPDATE meta SET value = 1 WHERE key = 'writer_open'", []);
    mark()?;
    if fresh {
        enter_wal(connection)?;
        // The first commit in WAL mode creates the WAL file, which stays until a clean close:
        // from here on a missing WAL means a missing file, not a store that never wrote one.
        return mark().map(|_| ());
    }
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// Clears the marker at a clean close, and only then lets closing the connection checkpoint
/// it into the file and remove the WAL ([`mark_open`] turned that off).
pub(crate) fn mark_closed(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute("UPDATE meta SET value = 0 WHERE key = 'writer_open'", [])?;
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
        .map(|_| ())
}
