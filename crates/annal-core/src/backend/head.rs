//! Publishing the head position on the watch channel that reads and subscriptions wait on.
//!
//! Invariant: the published head never moves back. A subscriber that has seen head `p` has
//! read every event up to `p`; a smaller head published after it would make it wait for
//! events it already delivered, or (after a reopen) deliver a position twice.

use tokio::sync::watch;

use crate::position::Position;

/// Publishes `head` if it is ahead of the published one, for sources that race to publish (a
/// writer and a listener, pollers): a stale head from the slower one is dropped. Answers
/// whether the head moved.
pub fn advance_head(sender: &watch::Sender<Position>, head: Position) -> bool {
    sender.send_if_modified(|current| {
        let moved = head > *current;
        if moved {
            *current = head;
        }
        moved
    })
}

/// Publishes `head` from the one source that owns it (a writer after its commit, which alone
/// moves the counter): its head is never behind what it published before, and a head behind
/// means the counter went back, a bug that must not reach readers.
///
/// # Panics
///
/// If `head` is behind the published head.
pub fn publish_head(sender: &watch::Sender<Position>, head: Position) {
    let published = *sender.borrow();
    assert!(
        head >= published,
        "the head would move back from {published:?} to {head:?}"
    );
    advance_head(sender, head);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_head_is_dropped_and_a_newer_one_published() {
        let (sender, receiver) = watch::channel(Position(5));
        assert!(!advance_head(&sender, Position(3)));
        assert_eq!(*receiver.borrow(), Position(5));
        assert!(advance_head(&sender, Position(8)));
        assert_eq!(*receiver.borrow(), Position(8));
        publish_head(&sender, Position(8));
        assert_eq!(*receiver.borrow(), Position(8));
    }

    #[test]
    #[should_panic(expected = "would move back")]
    fn the_owner_publishing_a_head_behind_panics() {
        let (sender, _receiver) = watch::channel(Position(5));
        publish_head(&sender, Position(4));
    }
}
