//! Ledger metrics: [`compute_metrics`] over a set of runs and [`rank_violations`] by cost.
//!
//! Both are pure functions of the runs, so they work on any slice (a query result, an export).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::run_event::RunEvent;

/// Aggregate quality figures over a set of runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizationMetrics {
    /// Violations per 10 runs.
    pub violation_rate: f64,
    /// Share of violations the agents corrected themselves; 1 when there were none.
    pub self_correction_rate: f64,
    /// Mean rework lines per run.
    pub rework_lines: f64,
    /// Clarifying questions asked (not recorded yet: always 0, as in the seed).
    pub clarifying_questions: f64,
    /// Runs counted.
    pub task_count: usize,
}

/// How costly one rule's violations were.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViolationRanking {
    /// The rule.
    pub rule_id: String,
    /// Violations of it (several in one run count separately).
    pub frequency: u64,
    /// Mean rework lines of the runs that broke it, per violation.
    pub cost: f64,
    /// `frequency × cost`: the total rework attributed to the rule.
    pub score: f64,
}

/// The quality figures of `events`.
///
/// The seed answered a self-correction rate of 0 for no runs but 1 for runs without
/// violations; here it is 1 whenever there is no violation, since none went uncorrected.
pub fn compute_metrics(events: &[RunEvent]) -> OptimizationMetrics {
    let task_count = events.len();
    if task_count == 0 {
        return OptimizationMetrics {
            violation_rate: 0.0,
            self_correction_rate: 1.0,
            rework_lines: 0.0,
            clarifying_questions: 0.0,
            task_count: 0,
        };
    }
    let violations: usize = events.iter().map(|event| event.violations.len()).sum();
    let corrected = events
        .iter()
        .flat_map(|event| &event.violations)
        .filter(|violation| violation.auto_corrected)
        .count();
    let rework: u64 = events.iter().map(|event| event.rework_lines).sum();
    OptimizationMetrics {
        violation_rate: violations as f64 / task_count as f64 * 10.0,
        self_correction_rate: if violations == 0 {
            1.0
        } else {
            corrected as f64 / violations as f64
        },
        rework_lines: rework as f64 / task_count as f64,
        clarifying_questions: 0.0,
        task_count,
    }
}

/// The rules broken in `events`, costliest first; ties keep the order rules were first seen.
pub fn rank_violations(events: &[RunEvent]) -> Vec<ViolationRanking> {
    let mut order: Vec<String> = Vec::new();
    let mut totals: HashMap<&str, (u64, u64)> = HashMap::new();
    for event in events {
        for violation in &event.violations {
            let entry = totals.entry(violation.rule_id.as_str()).or_insert_with(|| {
                order.push(violation.rule_id.clone());
                (0, 0)
            });
            entry.0 += 1;
            entry.1 += event.rework_lines;
        }
    }
    let mut rankings: Vec<ViolationRanking> = order
        .into_iter()
        .map(|rule_id| {
            let (frequency, rework) = totals.get(rule_id.as_str()).copied().unwrap_or((0, 0));
            let cost = if frequency == 0 {
                0.0
            } else {
                rework as f64 / frequency as f64
            };
            ViolationRanking {
                rule_id,
                frequency,
                cost,
                score: frequency as f64 * cost,
            }
        })
        .collect();
    // A stable sort keeps first-seen order among equal scores.
    rankings.sort_by(|a, b| b.score.total_cmp(&a.score));
    rankings
}
