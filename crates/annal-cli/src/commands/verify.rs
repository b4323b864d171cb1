//! `annal verify`: reads the whole store and checks what every backend promises: positions
//! strictly increase, each stream's readable versions are contiguous and increasing, and every
//! payload and metadata value is a JSON object (a read stops with an error at the first that is
//! not). Prints each problem; fails if there is any. `--deep` first runs the backend's own
//! check of its files: SQLite's full `integrity_check` (the other backends have none beyond
//! what their open and reads check). A SQLite store's derived index (postings, time blocks,
//! maintained counts), an NDJSON store's `index.sqlite` (every table, up to its watermark) and
//! a PostgreSQL store's maintained counts and time bounds are compared with their events too
//! (`check_index` of each).

use std::collections::HashMap;
use std::sync::Arc;

use annal_core::{Position, Store, StreamId, Version};
use futures::StreamExt;
use indicatif::ProgressBar;
use serde_json::json;

use crate::output::Output;
use crate::store::Location;

/// Stops listing problems after this many; the count still covers all.
const LISTED_PROBLEMS_MAX: usize = 100;

/// The `--deep` check of the store's files; answers what was checked. A SQLite file that fails
/// it is an error naming the file and what SQLite found.
pub(crate) async fn deep(location: &Location) -> anyhow::Result<&'static str> {
    match location {
        Location::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || annal_sqlite::SqliteStore::integrity_check(&path))
                .await??;
            Ok("sqlite integrity_check: ok")
        }
        _ => Ok("no file check for this backend"),
    }
}

/// The problems of the store's derived data against its events: SQLite's postings, time blocks
/// and maintained counts; NDJSON's `index.sqlite`; PostgreSQL's maintained counts and time
/// bounds.
pub(crate) async fn index(location: &Location) -> anyhow::Result<Vec<String>> {
    match location {
        Location::Sqlite(path) => {
            let store = annal_sqlite::SqliteStore::open_read_only(path)?;
            Ok(store.check_index().await?)
        }
        Location::Postgres(url) => {
            let (config, tls) = annal_postgres::parse_connection_string(url)?;
            let options = annal_postgres::PostgresOptions::new().read_only().tls(tls);
            let store = annal_postgres::PostgresStore::connect_with(config, options).await?;
            Ok(store.check_index().await?)
        }
        Location::Ndjson(path) => {
            let store = annal_ndjson::NdjsonStore::open_read_only(path)?;
            Ok(store.check_index().await?)
        }
    }
}

pub(crate) async fn run(
    store: Arc<dyn Store>,
    deep: Option<&'static str>,
    index_problems: Vec<String>,
    out: &mut Output,
) -> anyhow::Result<()> {
    let progress = crate::commands::transfer::progress(out, store.head().await?.0, "verifying");
    let mut problems = Problems::default();
    let log = check_log(store.as_ref(), &progress, &mut problems).await?;
    progress.finish_and_clear();
    index_problems
        .into_iter()
        .for_each(|problem| problems.report(format!("derived index: {problem}")));
    check_stream_counters(store.as_ref(), &log.last_version, &mut problems).await?;
    print_summary(deep, &log, &problems, out)?;
    if problems.count > 0 {
        out.flush()?;
        anyhow::bail!("the store has {} problem(s)", problems.count);
    }
    Ok(())
}

/// The problems found: all of them counted, the first `LISTED_PROBLEMS_MAX` listed.
#[derive(Default)]
struct Problems {
    listed: Vec<String>,
    count: usize,
}

impl Problems {
    fn report(&mut self, problem: String) {
        self.count += 1;
        if self.listed.len() < LISTED_PROBLEMS_MAX {
            self.listed.push(problem);
        }
    }
}

/// What one read of the whole log saw: how many events, and each stream's last version.
struct LogSeen {
    checked: u64,
    last_version: HashMap<StreamId, Version>,
}

/// Reads the whole log in position order, reporting positions that do not increase, versions
/// that skip within a stream, and the first event that cannot be read (where the read stops).
async fn check_log(
    store: &dyn Store,
    progress: &ProgressBar,
    problems: &mut Problems,
) -> anyhow::Result<LogSeen> {
    let mut events = store.read_all(Position::START).await?;
    let mut last_position = Position::START;
    let mut seen = LogSeen {
        checked: 0,
        last_version: HashMap::new(),
    };
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                problems.report(format!("after {last_position}: unreadable event: {error}"));
                break;
            }
        };
        seen.checked += 1;
        progress.inc(1);
        if event.position <= last_position {
            problems.report(format!(
                "{}: not after the previous {last_position}",
                event.position
            ));
        }
        last_position = event.position;
        if let Some(previous) = seen.last_version.get(&event.aggregate_id)
            && event.version != previous.next()
        {
            problems.report(format!(
                "{}: stream {} jumps from {} to {}",
                event.position, event.aggregate_id, previous, event.version
            ));
        }
        // Payload and metadata need no check here: an event is read only if both are JSON
        // objects (`RawObject`); the store reports any other stored text as corruption.
        seen.last_version
            .insert(event.aggregate_id.clone(), event.version);
    }
    Ok(seen)
}

/// Reports each stream whose version counter is behind the last event read from it.
async fn check_stream_counters(
    store: &dyn Store,
    last_version: &HashMap<StreamId, Version>,
    problems: &mut Problems,
) -> anyhow::Result<()> {
    for (stream, version) in last_version {
        let current = store.stream_version(stream).await?;
        if current < *version {
            problems.report(format!(
                "stream {stream}: counter at {current} behind its event at {version}"
            ));
        }
    }
    Ok(())
}

/// Prints what was checked and the problems listed, as JSON or as text.
fn print_summary(
    deep: Option<&'static str>,
    log: &LogSeen,
    problems: &Problems,
    out: &mut Output,
) -> anyhow::Result<()> {
    let checked = log.checked;
    let problem_count = problems.count;
    let summary = json!({
        "events": checked,
        "streams": log.last_version.len(),
        "problems": problem_count,
        "listed": problems.listed,
        "deep": deep,
    });
    let mut human = match deep {
        Some(deep) => format!("{deep}; "),
        None => String::new(),
    };
    human.push_str(&format!(
        "checked {checked} events in {} streams: ",
        log.last_version.len()
    ));
    if problem_count == 0 {
        human.push_str("no problems");
    } else {
        human.push_str(&format!("{problem_count} problem(s)"));
        for problem in &problems.listed {
            human.push_str(&format!("\n  {problem}"));
        }
    }
    out.value(&summary, &human)
}
