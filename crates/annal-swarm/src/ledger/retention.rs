//! Periodic retention of the run ledger: a tokio task that keeps the newest N runs, every
//! interval, until stopped (the seed compacted hourly to the newest 10,000).
//!
//! A failed pass does not stop the task (the next pass retries), but unlike the seed it is not
//! swallowed: the latest error is kept in [`RetentionStatus`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use super::run_ledger::RunLedger;

/// What the retention task has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionStatus {
    /// Passes finished, successful or not.
    pub passes: u64,
    /// Runs removed over all passes.
    pub removed: u64,
    /// The error of the latest failed pass, cleared by the next successful one.
    pub last_error: Option<String>,
}

/// A running retention task. Dropping it stops the task.
#[derive(Debug)]
pub struct RetentionTask {
    stop: Option<oneshot::Sender<()>>,
    status: watch::Receiver<RetentionStatus>,
    task: JoinHandle<()>,
}

/// Starts a task that calls [`RunLedger::retain_newest`]`(keep)` every `every`, the first time
/// one interval from now. Needs a tokio runtime with the time driver.
pub fn spawn_retention(ledger: Arc<RunLedger>, keep: u64, every: Duration) -> RetentionTask {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let (status_tx, status) = watch::channel(RetentionStatus::default());
    let task = tokio::spawn(async move {
        let mut ticks = interval_at(Instant::now() + every, every);
        // After a slow pass, wait a full interval instead of firing a burst of catch-up passes.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticks.tick() => {}
            }
            let outcome = ledger.retain_newest(keep).await;
            status_tx.send_modify(|status| {
                status.passes += 1;
                match outcome {
                    Ok(report) => {
                        status.removed += report.removed;
                        status.last_error = None;
                    }
                    Err(error) => status.last_error = Some(format!("{error:#}")),
                }
            });
        }
    });
    RetentionTask {
        stop: Some(stop),
        status,
        task,
    }
}

impl RetentionTask {
    /// What the task has done so far.
    pub fn status(&self) -> RetentionStatus {
        self.status.borrow().clone()
    }

    /// Waits until at least `passes` passes have finished; returns the status then, or `None`
    /// if the task ended first.
    pub async fn wait_for_passes(&mut self, passes: u64) -> Option<RetentionStatus> {
        self.status
            .wait_for(|status| status.passes >= passes)
            .await
            .ok()
            .map(|s| s.clone())
    }

    /// Stops the task after its current pass and returns the final status.
    pub async fn stop(mut self) -> RetentionStatus {
        if let Some(stop) = self.stop.take() {
            // The task may already have ended; then there is nobody to tell.
            let _ = stop.send(());
        }
        // A join error means the pass panicked; the status still says what finished before.
        let _ = (&mut self.task).await;
        self.status.borrow().clone()
    }
}

impl Drop for RetentionTask {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}
