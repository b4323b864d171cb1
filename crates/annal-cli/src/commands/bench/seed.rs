//! The seed implementations' figures on workload wl1 (from the reference baseline), so every
//! annal figure prints beside the one it replaces. Only the sizes the baseline measured have
//! figures; other sizes print none.

/// The seed event store's figure for `step` at `n` events, in the unit annal reports it in.
pub(crate) fn figure(step: &str, n: u64) -> Option<f64> {
    let column = match n {
        1_000 => 0,
        10_000 => 1,
        100_000 => 2,
        _ => return None,
    };
    let row: [f64; 3] = match step {
        // Events per second, appended one at a time (never durable in the seed).
        "append one at a time" => [2_256.0, 3_985.0, 4_645.0],
        // Milliseconds.
        "read one agent stream" => [1.34, 1.95, 10.4],
        "read a task stream (mean of 20)" => [0.21, 0.34, 6.5],
        "query by type" => [0.42, 28.4, 204.0],
        "query 2 types + time window" => [1.1, 31.4, 108.0],
        "query type + time, limit/offset" => [0.34, 3.6, 6.0],
        super::script::REPLAY => [23_000.0, 40_000.0, 86_000.0],
        "stats" => [9.0, 9.5, 28.8],
        super::script::PROJECTIONS => [71.0, 398.0, 3_860.0],
        "reopen" => [6.1, 30.0, 185.0],
        "bytes per event on disk" => [545.0, 510.0, 517.0],
        "peak RSS" => [108.0, 218.0, 454.0],
        _ => return None,
    };
    Some(row[column])
}
