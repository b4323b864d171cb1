//! One measured figure of `annal bench`: what was timed, how long it took, how many items, and
//! the seed's figure and annal's target to print beside it.

use std::time::Duration;

use serde::Serialize;

/// Whether a larger or a smaller figure is better.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Better {
    /// Throughput: events per second.
    Higher,
    /// Latency: milliseconds.
    Lower,
}

/// A row of the report.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Figure {
    /// What was measured.
    pub(crate) step: String,
    /// The value: events/s for `Higher`, ms for `Lower`, or a plain quantity with a unit.
    pub(crate) value: f64,
    /// The unit of `value`.
    pub(crate) unit: &'static str,
    /// Which direction is better.
    pub(crate) better: Better,
    /// How many items the step handled.
    pub(crate) items: u64,
    /// The seed implementation's figure on the same workload, in the same unit.
    pub(crate) seed: Option<f64>,
    /// A figure measured in the same run that bounds this one (the hardware ceiling).
    pub(crate) ceiling: Option<f64>,
    /// annal's target, in the same unit.
    pub(crate) target: Option<f64>,
}

impl Figure {
    /// A throughput figure: `items` in `elapsed`.
    pub(crate) fn rate(step: impl Into<String>, items: u64, elapsed: Duration) -> Self {
        Self {
            step: step.into(),
            value: items as f64 / elapsed.as_secs_f64().max(1e-9),
            unit: "events/s",
            better: Better::Higher,
            items,
            seed: None,
            ceiling: None,
            target: None,
        }
    }

    /// A latency figure in milliseconds.
    pub(crate) fn millis(step: impl Into<String>, items: u64, elapsed: Duration) -> Self {
        Self {
            step: step.into(),
            value: elapsed.as_secs_f64() * 1e3,
            unit: "ms",
            better: Better::Lower,
            items,
            seed: None,
            ceiling: None,
            target: None,
        }
    }

    /// A plain quantity (bytes per event, MiB).
    pub(crate) fn quantity(step: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self {
            step: step.into(),
            value,
            unit,
            better: Better::Lower,
            items: 0,
            seed: None,
            ceiling: None,
            target: None,
        }
    }

    pub(crate) fn seed(mut self, seed: f64) -> Self {
        self.seed = Some(seed);
        self
    }

    pub(crate) fn ceiling(mut self, ceiling: f64) -> Self {
        self.ceiling = Some(ceiling);
        self
    }

    pub(crate) fn target(mut self, target: f64) -> Self {
        self.target = Some(target);
        self
    }

    /// How many times better than the seed (above 1 is better, whichever the direction).
    pub(crate) fn vs_seed(&self) -> Option<f64> {
        self.seed.map(|seed| match self.better {
            Better::Higher => self.value / seed,
            Better::Lower => seed / self.value.max(1e-9),
        })
    }

    /// Whether the target is met, if there is one.
    pub(crate) fn met(&self) -> Option<bool> {
        self.target.map(|target| match self.better {
            Better::Higher => self.value >= target,
            Better::Lower => self.value <= target,
        })
    }
}

/// The process's peak resident set size in bytes (Linux `VmHWM`), if the system tells.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
