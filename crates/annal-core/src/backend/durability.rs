//! [`Durability`]: when a durable backend acknowledges an append.

/// When an append is acknowledged.
///
/// Exhaustive on purpose: a new mode must be handled by every backend, so their matches
/// should break when one is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledged only once the commit is on disk: an acknowledged event survives a crash or
    /// a power loss.
    #[default]
    Durable,
    /// Acknowledged once the commit is written but before it is synced: a crash of the process
    /// loses nothing, a power loss may lose the latest acknowledged events. `Store::flush`
    /// makes everything acknowledged so far durable.
    Relaxed,
}
