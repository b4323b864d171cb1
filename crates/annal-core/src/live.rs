//! [`LiveProjection`]: a projection that catches up, then follows new commits in a background
//! task, while callers read its state.
//!
//! The task saves state and checkpoint whenever it has drained the events that were ready, so a
//! restart resumes from the last burst instead of replaying everything.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use futures::{FutureExt, StreamExt};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::filter::Filter;
use crate::position::Position;
use crate::projection::{Projection, ProjectionError, ProjectionRunner};

/// A projection kept current by a background task. Drop it, or call [`LiveProjection::stop`],
/// to end the task.
pub struct LiveProjection<P: Projection> {
    state: Arc<RwLock<P>>,
    checkpoint: watch::Receiver<Position>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<ProjectionRunner<P>, ProjectionError>>,
}

impl<P: Projection> std::fmt::Debug for LiveProjection<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveProjection")
            .field("name", &P::NAME)
            .field("checkpoint", &*self.checkpoint.borrow())
            .finish_non_exhaustive()
    }
}

impl<P: Projection> ProjectionRunner<P> {
    /// Catches up, then follows the store live in a background task (needs a tokio runtime).
    pub async fn follow(mut self) -> Result<LiveProjection<P>, ProjectionError> {
        self.catch_up().await?;
        let state = self.shared_state();
        let (checkpoint_tx, checkpoint) = watch::channel(self.checkpoint());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(self, checkpoint_tx, stopped));
        Ok(LiveProjection {
            state,
            checkpoint,
            stop: Some(stop),
            task,
        })
    }
}

async fn run<P: Projection>(
    mut runner: ProjectionRunner<P>,
    checkpoint: watch::Sender<Position>,
    mut stopped: oneshot::Receiver<()>,
) -> Result<ProjectionRunner<P>, ProjectionError> {
    let read_error = |source| ProjectionError::Read {
        name: P::NAME,
        source,
    };
    let from = runner.checkpoint().next();
    let mut events = runner
        .store()
        .subscribe(from, Filter::all())
        .await
        .map_err(read_error)?;
    loop {
        let next = tokio::select! {
            _ = &mut stopped => break,
            next = events.next() => next,
        };
        let Some(event) = next else { break };
        runner.apply_live(&event.map_err(read_error)?);
        // Drain what is ready now, then save once for the whole burst.
        while let Some(Some(event)) = events.next().now_or_never() {
            runner.apply_live(&event.map_err(read_error)?);
        }
        runner.save().await?;
        checkpoint.send_replace(runner.checkpoint());
    }
    runner.save().await?;
    Ok(runner)
}

impl<P: Projection> LiveProjection<P> {
    /// Read access to the current state.
    pub fn state(&self) -> RwLockReadGuard<'_, P> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last position folded into the state and saved.
    pub fn checkpoint(&self) -> Position {
        *self.checkpoint.borrow()
    }

    /// Waits until the state includes `position`, or the task has stopped.
    pub async fn wait_for(&mut self, position: Position) -> Result<(), ProjectionError> {
        while *self.checkpoint.borrow_and_update() < position {
            if self.checkpoint.changed().await.is_err() {
                return Err(ProjectionError::Stopped {
                    name: P::NAME,
                    reason: "the follower ended before reaching the position".into(),
                });
            }
        }
        Ok(())
    }

    /// Stops following, saves, and hands back the runner.
    pub async fn stop(mut self) -> Result<ProjectionRunner<P>, ProjectionError> {
        if let Some(stop) = self.stop.take() {
            // The task may have ended on its own; then there is nobody to tell.
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(ProjectionError::Stopped {
                name: P::NAME,
                reason: join.to_string(),
            }),
        }
    }
}

impl<P: Projection> Drop for LiveProjection<P> {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}
