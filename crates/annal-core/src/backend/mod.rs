//! For backend authors: the parts every backend shares besides the rules of the store.
//!
//! An application uses the [`Store`](crate::Store) trait and never needs this module. A
//! backend uses it to be thin: the boundary check ([`prepare_batch`]), the requests a store
//! sends its writer ([`Request`]) through a bounded queue ([`WriterQueue`]) that the writer
//! drains a group at a time ([`drain_group`]), head publishing that never moves back
//! ([`publish_head`]), the failure that poisons a writer ([`Poison`]), reads page by page
//! ([`paged`], [`stream_pages`]) and subscriptions ([`follow`]), [`Durability`], and the OS
//! lock a writer holds ([`OsLock`]), and the Bloom filter over stored ids that spares a writer
//! most lookups of its older ids ([`BloomFilter`]).

mod bloom;
mod durability;
mod head;
mod lock;
mod paging;
mod poison;
mod queue;
mod request;

pub use crate::batch::{BatchPreparer, PreparedEvent, prepare_batch};
pub use crate::subscription::follow;
pub use bloom::BloomFilter;
pub use durability::Durability;
pub use head::{advance_head, publish_head};
pub use lock::{LockError, OsLock, peek as peek_lock};
pub use paging::{PAGE_EVENTS, Page, StreamPage, paged, stream_pages};
pub use poison::{Poison, Poisoned};
pub use queue::{QUEUE_REQUESTS_MAX, WriterInbox, WriterQueue, drain_group};
pub use request::{Append, AppendRequest, Reply, Request};
