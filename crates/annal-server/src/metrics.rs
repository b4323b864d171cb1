//! Prometheus metrics: what the server counts and how `/metrics` renders it.
//!
//! The `metrics` facade's macros record into one process-wide Prometheus recorder, installed on
//! first use; if another recorder is already installed (an embedding program chose its own),
//! the server records into that one and `/metrics` renders only the store's head.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Append latency buckets, in seconds: from a group commit's best case to a stalled disk.
const APPEND_SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process.
pub(crate) fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("annal_append_seconds".into()),
                    APPEND_SECONDS_BUCKETS,
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// The text `/metrics` answers, with the store's `head` and how far the furthest-behind live
/// subscriber is behind it (`lag`, in positions) as gauges.
#[allow(clippy::cast_precision_loss)] // a gauge is an f64; positions past 2^53 round
pub(crate) fn render(head: Option<u64>, lag: u64) -> String {
    if let Some(head) = head {
        gauge!("annal_head_position").set(head as f64);
    }
    gauge!("annal_subscriber_lag_events").set(lag as f64);
    match install() {
        Some(handle) => handle.render(),
        None => format!(
            "# TYPE annal_head_position gauge\nannal_head_position {}\n",
            head.unwrap_or(0)
        ),
    }
}

/// An append was acknowledged.
pub(crate) fn append(events: usize, bytes: usize, elapsed: Duration) {
    counter!("annal_appends_total").increment(1);
    counter!("annal_appended_events_total").increment(events as u64);
    counter!("annal_appended_bytes_total").increment(bytes as u64);
    histogram!("annal_append_seconds").record(elapsed.as_secs_f64());
}

/// A read request started.
pub(crate) fn read(kind: &'static str) {
    counter!("annal_reads_total", "kind" => kind).increment(1);
}

/// An event was sent to a reader.
pub(crate) fn event_read() {
    cached(&READ_EVENTS, "annal_read_events_total").increment(1);
}

/// Events were sent to a subscriber.
pub(crate) fn events_delivered(events: usize) {
    cached(&DELIVERED_EVENTS, "annal_delivered_events_total").increment(events as u64);
}

static READ_EVENTS: OnceLock<Counter> = OnceLock::new();
static DELIVERED_EVENTS: OnceLock<Counter> = OnceLock::new();

/// The counter `name`, looked up in the recorder once: these are counted per event, where a
/// lookup per call would cost more than the count. The recorder is installed first, so the
/// handle kept is never the no-op one of a process without a recorder yet.
fn cached(cell: &'static OnceLock<Counter>, name: &'static str) -> &'static Counter {
    cell.get_or_init(|| {
        install();
        counter!(name)
    })
}

/// An error was answered.
pub(crate) fn error(code: &'static str) {
    counter!("annal_errors_total", "code" => code).increment(1);
}

/// A live subscriber fell a whole ring behind the shared tail and reads the store to catch up.
pub(crate) fn subscriber_fell_behind() {
    counter!("annal_subscriber_catchups_total").increment(1);
}

/// The number of live subscribers changed.
pub(crate) fn subscribers(live: usize) {
    #[allow(clippy::cast_precision_loss)] // a gauge is an f64; far below 2^53
    gauge!("annal_live_subscribers").set(live as f64);
}
