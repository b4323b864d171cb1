//! [`Poison`]: the failure after which a writer refuses every later write.
//!
//! A durable backend cannot know what its files hold after a failed write or fsync, and
//! retrying a failed fsync can report success for data the OS dropped. So the first failure
//! poisons the writer until the store is reopened (whose recovery reads what the disk holds).
//! The failure keeps its typed source: the callers of the failed group get it as the
//! [`StorageError::Backend`] source, later callers a [`StorageError::Poisoned`] naming it.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use crate::error::StorageError;

/// A writer's first failed write, shared by every caller it answers.
#[derive(Clone, Debug)]
pub struct Poison {
    context: Arc<str>,
    source: SharedSource,
}

impl Poison {
    /// A failure while doing `context` (what the writer was writing), caused by `source`.
    pub fn new(
        context: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self {
            context: context.into().into(),
            source: SharedSource(Arc::from(source.into())),
        }
    }

    /// What the writer was doing.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The typed failure, for a backend that answers some failures differently (a corrupted
    /// value, say).
    pub fn source(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.source.0
    }

    /// The error for the callers whose requests were in flight when it failed.
    pub fn failure(&self) -> StorageError {
        StorageError::backend(self.context.to_string(), self.source.clone())
    }

    /// The error for every request after it.
    pub fn refusal(&self) -> StorageError {
        StorageError::Poisoned {
            reason: self.source.to_string(),
        }
    }
}

/// A writer's poison state: healthy until its first failed write.
#[derive(Debug, Default)]
pub struct Poisoned(Option<Poison>);

impl Poisoned {
    /// Records `poison` and returns it, for the callers of the write that failed; the first
    /// failure stays the one later refusals name.
    pub fn set(&mut self, poison: Poison) -> Poison {
        self.0.get_or_insert_with(|| poison.clone());
        poison
    }

    /// The failure that poisoned the writer, if any.
    pub fn get(&self) -> Option<&Poison> {
        self.0.as_ref()
    }

    /// Whether the writer is poisoned.
    pub fn is_poisoned(&self) -> bool {
        self.0.is_some()
    }

    /// The refusal for a request to a poisoned writer, or `None` while it is healthy.
    pub fn refusal(&self) -> Option<StorageError> {
        self.0.as_ref().map(Poison::refusal)
    }
}

/// The source error, shared between every caller that is answered with it.
#[derive(Clone)]
struct SharedSource(Arc<dyn Error + Send + Sync>);

impl fmt::Debug for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Error for SharedSource {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_kept_and_reported_with_its_source() {
        let mut poisoned = Poisoned::default();
        assert!(poisoned.refusal().is_none());
        let io = std::io::Error::other("disk full");
        let first = poisoned.set(Poison::new("writing /x", io));
        let later = poisoned.set(Poison::new("writing /y", "later"));
        assert_eq!(first.context(), "writing /x");
        assert_eq!(
            later.context(),
            "writing /y",
            "the later write's callers get its failure"
        );
        assert!(first.source().downcast_ref::<std::io::Error>().is_some());
        let failure = poisoned.get().unwrap().failure();
        assert_eq!(failure.to_string(), "writing /x");
        let source = Error::source(&failure).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk full"));
        match poisoned.refusal() {
            Some(StorageError::Poisoned { reason }) => assert_eq!(reason, "disk full"),
            other => panic!("expected a poisoned refusal, got {other:?}"),
        }
    }
}
