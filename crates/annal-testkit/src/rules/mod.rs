//! The rules every backend must honour, one public async function per rule.
//!
//! Each function takes a fresh, empty store and panics (through assertions) when the backend
//! breaks the rule. Modules follow the sections of the semantics: append, retry, input limits,
//! reads, queries, subscriptions, snapshots, projections, retention, stats, the seed's own test
//! cases, and the rules that need a store with a disk.

pub mod append;
pub mod durability;
pub mod indexed;
pub mod limits;
pub mod projection;
pub mod query;
pub mod read;
pub mod retention;
pub mod retry;
pub mod seed;
pub mod snapshot;
pub mod stats;
pub mod subscribe;
