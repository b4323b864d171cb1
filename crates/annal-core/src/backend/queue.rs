//! The queue into a writer: callers send requests and wait for their answers; the writer takes
//! what is waiting as one group.
//!
//! A group is the unit of commit (one transaction, one fsync), so draining everything queued
//! up to a bound is what makes appends from many callers cost one commit. The bound keeps one
//! commit's size and its callers' latency in check. A full queue makes callers wait
//! (back-pressure) instead of growing without bound.

use tokio::sync::{mpsc, oneshot};

use crate::error::StorageError;

use super::request::{AppendRequest, Reply, Request};

/// Most requests waiting in a writer's queue.
pub const QUEUE_REQUESTS_MAX: usize = 16 * 1024;

/// The sending side of a writer's queue, held by the store's handles.
#[derive(Debug)]
pub struct WriterQueue<R> {
    sender: mpsc::Sender<R>,
    /// The error a caller gets when the writer is gone.
    gone: fn() -> StorageError,
}

impl<R> Clone for WriterQueue<R> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            gone: self.gone,
        }
    }
}

/// The receiving side of a writer's queue, owned by the writer.
pub type WriterInbox<R> = mpsc::Receiver<R>;

impl<R> WriterQueue<R> {
    /// A queue of [`QUEUE_REQUESTS_MAX`] requests; `gone` is the error a caller gets once the
    /// writer stopped (it panicked, or the store closed).
    pub fn new(gone: fn() -> StorageError) -> (Self, WriterInbox<R>) {
        let (sender, receiver) = mpsc::channel(QUEUE_REQUESTS_MAX);
        (Self { sender, gone }, receiver)
    }

    /// Queues `request`, waiting while the queue is full.
    pub async fn send(&self, request: R) -> Result<(), StorageError> {
        self.sender.send(request).await.map_err(|_| (self.gone)())
    }

    /// Queues the request `make` builds around its answer channel and waits for the answer.
    pub async fn request<T, E>(&self, make: impl FnOnce(Reply<T, E>) -> R) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply)).await?;
        self.answer(answer).await?
    }

    /// Waits for an answer to a request already queued.
    pub async fn answer<T>(&self, answer: oneshot::Receiver<T>) -> Result<T, StorageError> {
        answer.await.map_err(|_| (self.gone)())
    }
}

/// Hands `first` and then every request already waiting in `inbox` to `take`, until the
/// requests taken weigh `weight_max` (in events) or `take` answers `false` (the group is full
/// by the backend's own measure). Never waits for a request that is not queued yet.
pub fn drain_group<A: AppendRequest>(
    inbox: &mut WriterInbox<Request<A>>,
    first: Request<A>,
    weight_max: usize,
    mut take: impl FnMut(Request<A>) -> bool,
) {
    let mut weight = first.weight();
    let mut open = take(first);
    while open && weight < weight_max {
        match inbox.try_recv() {
            Ok(request) => {
                weight += request.weight();
                open = take(request);
            }
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::request::Append;

    fn flush() -> Request {
        let (reply, _answer) = oneshot::channel();
        Request::Flush { reply }
    }

    #[test]
    fn a_group_takes_what_is_waiting_up_to_the_bound() {
        let (queue, mut inbox) = WriterQueue::<Request<Append>>::new(|| StorageError::Closed);
        for _ in 0..5 {
            queue.sender.try_send(flush()).unwrap();
        }
        let mut group = Vec::new();
        drain_group(&mut inbox, flush(), 3, |request| {
            group.push(request);
            true
        });
        assert_eq!(
            group.len(),
            3,
            "the first and two waiting, each weighing one"
        );
        let mut rest = Vec::new();
        drain_group(&mut inbox, flush(), 100, |request| {
            rest.push(request);
            rest.len() < 2
        });
        assert_eq!(rest.len(), 2, "the backend's own bound ends the group");
        assert_eq!(inbox.len(), 2);
    }

    #[tokio::test]
    async fn a_request_to_a_stopped_writer_gets_the_gone_error() {
        let (queue, inbox) = WriterQueue::<Request<Append>>::new(|| StorageError::Closed);
        drop(inbox);
        let answer = queue.request(|reply| Request::Flush { reply }).await;
        assert!(matches!(answer, Err(StorageError::Closed)));
    }
}
