//! Reading commands: `read`, `query`, `replay`, `tail` and `stats`. Events print as they stream
//! from the store.

use std::sync::Arc;

use annal_core::{Direction, EventStream, Filter, Position, ReadStreamOptions, Store, Version};
use comfy_table::Table;
use futures::StreamExt;

use crate::args::{QueryArgs, ReadArgs, ReplayArgs, StatsArgs, TailArgs};
use crate::convert;
use crate::output::{Output, format_time};

/// Prints every event of `events`; returns how many.
pub(crate) async fn print(mut events: EventStream, out: &mut Output) -> anyhow::Result<u64> {
    let mut count = 0;
    while let Some(event) = events.next().await {
        out.event(&event?)?;
        count += 1;
    }
    Ok(count)
}

pub(crate) async fn read(
    store: Arc<dyn Store>,
    args: ReadArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let stream = convert::stream(&args.stream)?;
    let options = ReadStreamOptions {
        from: args.from_version.map(Version),
        direction: if args.backward {
            Direction::Backward
        } else {
            Direction::Forward
        },
        limit: args.limit,
    };
    let count = print(store.read_stream(&stream, options).await?, out).await?;
    if count == 0 && !out.json() {
        let version = store.stream_version(&stream).await?;
        out.text(&format!(
            "stream {stream} has no events to show ({version})"
        ))?;
    }
    Ok(())
}

pub(crate) async fn query(
    store: Arc<dyn Store>,
    args: QueryArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let filter = Filter {
        limit: args.limit,
        offset: args.offset,
        direction: if args.backward {
            Direction::Backward
        } else {
            Direction::Forward
        },
        ..convert::filter(&args.filter)?
    };
    print(store.query(&filter).await?, out).await?;
    Ok(())
}

pub(crate) async fn replay(
    store: Arc<dyn Store>,
    args: ReplayArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let head = store.head().await?.0;
    let bar = crate::commands::transfer::progress(
        out,
        head.saturating_sub(args.from_position),
        "replaying",
    );
    let mut events = store.read_all(Position(args.from_position)).await?;
    while let Some(event) = events.next().await {
        out.event(&event?)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

pub(crate) async fn tail(
    store: Arc<dyn Store>,
    args: TailArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let from = match args.from_position {
        Some(position) => Position(position),
        None => store.head().await?.next(),
    };
    let filter = Filter {
        limit: args.limit,
        ..convert::filter(&args.filter)?
    };
    let mut events = store.subscribe(from, filter).await?;
    loop {
        let next = tokio::select! {
            next = events.next() => next,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(event) = next else { break };
        out.event(&event?)?;
        // A person or a pipe reading a tail wants each event now, not when a buffer fills.
        out.flush()?;
    }
    Ok(())
}

pub(crate) async fn stats(
    store: Arc<dyn Store>,
    args: StatsArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let stats = store.stats(args.top).await?;
    if out.json() {
        return out.json_line(&stats);
    }
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    let time = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), format_time);
    let position = |p: Option<Position>| p.map_or_else(|| "-".to_owned(), |p| p.0.to_string());
    table.add_row(vec!["events".to_owned(), stats.total_events.to_string()]);
    table.add_row(vec!["streams".to_owned(), stats.stream_count.to_string()]);
    table.add_row(vec![
        "snapshots".to_owned(),
        stats.snapshot_count.to_string(),
    ]);
    table.add_row(vec!["oldest".to_owned(), time(stats.oldest_timestamp)]);
    table.add_row(vec!["newest".to_owned(), time(stats.newest_timestamp)]);
    table.add_row(vec![
        "positions".to_owned(),
        format!(
            "{} .. {}",
            position(stats.first_position),
            position(stats.last_position)
        ),
    ]);
    if let Some(bytes) = stats.bytes_on_disk {
        table.add_row(vec!["bytes on disk".to_owned(), bytes.to_string()]);
    }
    out.text(&table.to_string())?;
    let mut counts = Table::new();
    counts.load_preset(comfy_table::presets::NOTHING);
    counts.set_header(vec!["event type", "events"]);
    for (event_type, count) in &stats.events_by_type {
        counts.add_row(vec![event_type.clone(), count.to_string()]);
    }
    out.text(&counts.to_string())?;
    let mut streams = Table::new();
    streams.load_preset(comfy_table::presets::NOTHING);
    streams.set_header(vec!["largest streams", "events"]);
    for stream in &stats.top_streams {
        streams.add_row(vec![stream.stream.to_string(), stream.events.to_string()]);
    }
    out.text(&streams.to_string())
}
