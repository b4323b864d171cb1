//! The writer task: the only code of a process that writes the database.
//!
//! It drains the queue of pending requests into a group. Consecutive appends in the group run
//! as one transaction (group commit): the global head lock is taken once per group, however
//! many callers wait in it. Other requests run one transaction each, in queue order. Answers go
//! out only after the commit returned, and the new head is published on the watch channel
//! before the answers, so a caller that sees its append acknowledged finds it in every read and
//! subscription of this process.
//!
//! Invariant: a group whose transaction failed before `COMMIT` left nothing behind. If it
//! failed on a lost connection or a conflict with another process, it runs again from the
//! start on a fresh connection; otherwise its callers get the error. If the connection was
//! lost during `COMMIT`, the outcome is unknown and the callers are told so: retrying with the
//! same event ids is safe (it returns the original result if the commit happened). A group of
//! several requests that failed otherwise runs again one request at a time, so a request the
//! database refuses fails alone. There is no in-memory state to poison: every decision is made
//! against the locked rows.

mod append;
mod corrupt;
mod dictionary;
mod failure;
pub(crate) mod fold;
mod maintenance;
mod names;
mod plan;
mod versions;

use std::sync::Arc;
use std::time::Duration;

use annal_core::backend::{Append, Request, WriterInbox, advance_head, drain_group};
use annal_core::{Position, StorageError};
use deadpool_postgres::{Object, Pool};
use tokio::sync::watch;

use append::append_group;
use failure::GroupFailure;
use names::Dictionaries;
use versions::VersionCache;

/// A request to the writer.
pub(crate) type Command = Request;

/// Most events in one group transaction: bounds the arrays bound to one `INSERT` and the time
/// the head lock is held.
const GROUP_EVENTS_MAX: usize = 20_000;

/// Longest wait for the callers of the previous group to resubmit before the next group starts
/// (see `run`): well under one commit's flush, which it saves.
const GATHER_WINDOW: Duration = Duration::from_millis(1);

/// Runs of one group before its callers get the failure.
const GROUP_ATTEMPTS_MAX: u32 = 6;

/// Publishes `head` if it is ahead of the current one: the writer and the listener race to
/// publish, so a stale head is dropped.
pub(crate) fn publish(sender: &watch::Sender<Position>, head: Position) {
    advance_head(sender, head);
}

/// The writer task's loop; it ends when every sender is gone.
pub(crate) async fn run(
    pool: Pool,
    head: Arc<watch::Sender<Position>>,
    mut receiver: WriterInbox<Command>,
) {
    let mut dictionaries = Dictionaries::default();
    let mut cache = VersionCache::default();
    let mut group: Vec<Command> = Vec::new();
    let mut previous_group = 0usize;
    while let Some(first) = receiver.recv().await {
        drain_group(&mut receiver, first, GROUP_EVENTS_MAX, |command| {
            group.push(command);
            true
        });
        let mut n_events: usize = group.iter().map(Command::weight).sum();
        // The callers of a large group resubmit one by one after their answers; starting the
        // next transaction with the first few would commit them alone and leave the rest for
        // the one after (groups alternate large and tiny, each paying a flush). So when fewer
        // are queued than last time, wait a moment for the rest.
        // Only appends are waited for and counted: maintenance runs alone and at once.
        let appends_in = |group: &[Command]| {
            group
                .iter()
                .filter(|command| matches!(command, Command::Append(_)))
                .count()
        };
        let starts_with_append = matches!(group.first(), Some(Command::Append(_)));
        if starts_with_append && previous_group > 1 && appends_in(&group) < previous_group {
            let deadline = tokio::time::Instant::now() + GATHER_WINDOW;
            while appends_in(&group) < previous_group && n_events < GROUP_EVENTS_MAX {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(command)) => {
                        n_events += command.weight();
                        group.push(command);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        previous_group = appends_in(&group);
        let mut appends: Vec<Append> = Vec::new();
        for command in group.drain(..) {
            match command {
                Command::Append(request) => appends.push(request),
                other => {
                    commit_appends(&pool, &head, &mut dictionaries, &mut cache, &mut appends).await;
                    cache.clear();
                    maintain(&pool, other).await;
                }
            }
        }
        commit_appends(&pool, &head, &mut dictionaries, &mut cache, &mut appends).await;
    }
}

/// Commits the queued `appends` as one group and answers them.
async fn commit_appends(
    pool: &Pool,
    head: &watch::Sender<Position>,
    dictionaries: &mut Dictionaries,
    cache: &mut VersionCache,
    appends: &mut Vec<Append>,
) {
    if appends.is_empty() {
        return;
    }
    let mut attempt = 0;
    let failure = loop {
        attempt += 1;
        let outcome = match pool.get().await {
            Ok(client) => {
                let published = head.borrow().0;
                let outcome = append_group(&client, dictionaries, cache, published, appends).await;
                if outcome.is_err() {
                    discard(client);
                }
                outcome
            }
            Err(error) => Err(GroupFailure::no_connection(error)),
        };
        match outcome {
            Ok(outcome) => {
                if let Some(new_head) = outcome.head {
                    publish(head, new_head);
                }
                for (request, answer) in appends.drain(..).zip(outcome.answers) {
                    // A caller that stopped waiting (its future was dropped) needs no answer.
                    let _ = request.reply.send(answer);
                }
                return;
            }
            Err(failure) if failure.retryable && attempt < GROUP_ATTEMPTS_MAX => {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            Err(failure) => break failure,
        }
    };
    if !failure.committed_unknown && appends.len() > 1 {
        // A value the database refuses in one request (an index row over its size limit, say)
        // failed the whole group; nothing was committed. Each request runs again alone, so the
        // failure costs only the request that caused it.
        for request in std::mem::take(appends) {
            let alone = &mut vec![request];
            Box::pin(commit_appends(pool, head, dictionaries, cache, alone)).await;
        }
        return;
    }
    let context = if failure.committed_unknown {
        "the connection was lost during COMMIT: the append may or may not be stored; \
         retry it with the same event ids to find out"
    } else {
        "appending to PostgreSQL failed; nothing was stored"
    };
    let message = describe(&*failure.error);
    for request in appends.drain(..) {
        let error = match &failure.corrupted {
            Some((location, reason)) => StorageError::Corrupted {
                location: location.clone(),
                reason: reason.clone(),
            },
            None => StorageError::backend(context, message.clone()),
        };
        let _ = request.reply.send(Err(error.into()));
    }
}

/// `error` with its sources: a database error's own text is only "db error", the server's
/// message is its source.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Runs one maintenance request in its own transaction and answers it.
async fn maintain(pool: &Pool, command: Command) {
    let storage = |error: &dyn std::fmt::Display| {
        StorageError::backend("writing to PostgreSQL failed", error.to_string())
    };
    let failed = |error: corrupt::Failure| error.into_storage();
    let mut client = match pool.get().await {
        Ok(client) => client,
        Err(error) => {
            command.fail(storage(&error));
            return;
        }
    };
    // Each arm answers its caller; a database error discards the connection, whose state is
    // then unknown, and reaches the caller as a StorageError.
    macro_rules! answer {
        ($reply:expr, $outcome:expr) => {{
            let outcome = $outcome;
            let answer = match outcome {
                Ok(result) => result,
                Err(error) => {
                    let error = failed(error);
                    discard(client);
                    Err(error.into())
                }
            };
            let _ = $reply.send(answer);
        }};
    }
    match command {
        Command::Append(_) => {}
        Command::SaveSnapshot { snapshot, reply } => {
            answer!(
                reply,
                maintenance::save_snapshot(&mut client, snapshot).await
            )
        }
        Command::Truncate {
            stream,
            before,
            force,
            reply,
        } => answer!(
            reply,
            maintenance::truncate_before(&mut client, &stream, before, force).await
        ),
        Command::Delete {
            stream,
            expected,
            reply,
        } => answer!(
            reply,
            maintenance::delete_stream(&mut client, &stream, expected).await
        ),
        Command::Retain { policy, reply } => {
            answer!(reply, maintenance::retain(&mut client, policy).await)
        }
        Command::SaveProjection { name, saved, reply } => answer!(
            reply,
            maintenance::save_projection(
                &client,
                name.as_str(),
                saved.checkpoint.0,
                &saved.state.to_string()
            )
            .await
            .map(Ok)
        ),
        // Every commit is durable (`synchronous_commit = on`): there is nothing to flush.
        Command::Flush { reply } => drop(reply.send(Ok(()))),
    }
}

/// Drops a connection instead of returning it to the pool: after a failure mid-transaction
/// its state is unknown, and a fresh connection costs little.
fn discard(client: Object) {
    drop(Object::take(client));
}
