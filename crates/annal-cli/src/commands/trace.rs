//! `annal trace EVENT-ID`: an event's causes, effects and correlated events, as a tree for a
//! person or one JSON object (`annal_core::Trace`) with `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use annal_core::{EventId, RecordedEvent, Store, Trace, TraceError, TraceLimits};

use crate::args::TraceArgs;
use crate::output::{Output, format_time};

pub(crate) async fn run(
    store: Arc<dyn Store>,
    args: TraceArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let id = EventId::new(&args.event_id).map_err(|error| anyhow::anyhow!("EVENT-ID {error}"))?;
    let limits = TraceLimits {
        causes_max: args.causes,
        effects_max: args.effects,
        correlated_max: args.correlated,
    };
    let trace = match annal_core::trace(&*store, &id, limits).await {
        Ok(trace) => trace,
        Err(TraceError::NotFound { id }) => anyhow::bail!(
            "no event with id {id}; `annal query` or `annal read STREAM` show event ids"
        ),
        Err(error) => return Err(error.into()),
    };
    out.value(&trace, &render(&trace))
}

fn line(event: &RecordedEvent) -> String {
    format!(
        "#{} {} v{} {} {} id={}",
        event.position.0,
        event.aggregate_id.as_str(),
        event.version.0,
        event.event_type.as_str(),
        format_time(event.timestamp),
        event.id.as_str()
    )
}

/// The chain of causes down to the event, its effects as a tree under it, then the correlated
/// events as a list.
fn render(trace: &Trace) -> String {
    let mut text = String::new();
    let mut depth = 0;
    if let Some(missing) = &trace.missing_cause {
        let _ = writeln!(text, "(caused by {missing}, not a stored event)");
        depth = 1;
    }
    if trace.causes_truncated {
        let _ = writeln!(text, "{}… earlier causes left out", indent(depth));
    }
    for cause in &trace.causes {
        let _ = writeln!(text, "{}{}", indent(depth), line(cause));
        depth += 1;
    }
    let _ = writeln!(text, "{}▶ {}", indent(depth), line(&trace.event));
    let mut children: BTreeMap<&str, Vec<&RecordedEvent>> = BTreeMap::new();
    for effect in &trace.effects {
        let parent = effect.causation_id.as_deref().unwrap_or_default();
        children.entry(parent).or_default().push(effect);
    }
    effects(&mut text, &children, trace.event.id.as_str(), depth + 1);
    if trace.effects_truncated {
        let _ = writeln!(
            text,
            "{}… more effects left out (--effects)",
            indent(depth + 1)
        );
    }
    if let Some(correlation) = &trace.event.correlation_id {
        let more = if trace.correlated_truncated { "+" } else { "" };
        let _ = writeln!(
            text,
            "\ncorrelation {correlation}: {}{more} events",
            trace.correlated.len()
        );
        for event in &trace.correlated {
            let _ = writeln!(text, "  {}", line(event));
        }
    }
    text.trim_end().to_owned()
}

fn effects(
    text: &mut String,
    children: &BTreeMap<&str, Vec<&RecordedEvent>>,
    parent: &str,
    depth: usize,
) {
    for child in children.get(parent).into_iter().flatten() {
        let _ = writeln!(text, "{}└─ {}", indent(depth), line(child));
        effects(text, children, child.id.as_str(), depth + 1);
    }
}

fn indent(depth: usize) -> String {
    "   ".repeat(depth)
}
