//! The run ledger over an annal store.
//!
//! Goal: every RunLedger case of the seed (ledger.test.ts) and the ledger-relevant cases of its
//! persistence tests pass against annal, and annal's fixes hold: caller ids are kept so retries
//! and re-imports are no-ops, recent(0) returns nothing, the dependency scan can fail, and
//! retention only touches run streams. Method: a RunLedger over an `Arc<dyn Store>` (MemoryStore)
//! with a fixed clock; cases that differ from the seed on purpose say so.

use std::sync::Arc;

use annal_core::{Clock, Store, Timestamp};
use annal_swarm::events::agent;
use annal_swarm::ledger::{
    DiffQuality, Evaluator, ForbiddenCommandScan, ForbiddenDependencyScan, RunEvent, RunLedger,
    Severity, TaskIntent, TestsPass, Violation, ViolationRate, compute_metrics, rank_violations,
};

use crate::support::{id, store};

const NOW: Timestamp = 1_700_000_000_000;

struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now_ms(&self) -> Timestamp {
        self.0
    }
}

fn ledger_over(store: Arc<dyn Store>) -> RunLedger {
    RunLedger::new(store).with_clock(FixedClock(NOW))
}

fn ledger() -> RunLedger {
    ledger_over(store())
}

fn run(ledger: &RunLedger, task_id: &str, timestamp: Timestamp) -> RunEvent {
    let mut event = ledger.create_event(task_id, TaskIntent::Feature, "gh-1");
    event.timestamp = timestamp;
    event
}

fn violation(rule_id: &str, auto_corrected: bool) -> Violation {
    Violation {
        rule_id: rule_id.into(),
        description: "broke it".into(),
        severity: Severity::Medium,
        location: None,
        auto_corrected,
    }
}

// ---- logging ----

#[tokio::test]
async fn seed_log_event_counts_one() {
    let ledger = ledger();
    ledger.log(run(&ledger, "task-1", NOW)).await.unwrap();
    assert_eq!(ledger.event_count().await.unwrap(), 1);
}

#[tokio::test]
async fn seed_two_logs_get_different_ids() {
    let ledger = ledger();
    let a = ledger.log(run(&ledger, "task-1", NOW)).await.unwrap();
    let mut unnamed = run(&ledger, "task-1", NOW);
    unnamed.event_id.clear();
    let b = ledger.log(unnamed).await.unwrap();
    assert_ne!(a.event_id, b.event_id);
    assert!(!b.event_id.is_empty());
    assert_eq!(ledger.event_count().await.unwrap(), 2);
}

#[tokio::test]
async fn seed_create_event_fills_task_intent_and_hash_and_is_not_stored() {
    let ledger = ledger();
    let event = ledger.create_event("task-9", TaskIntent::BugFix, "gh-abc");
    assert_eq!(
        (
            event.task_id.as_str(),
            event.intent,
            event.guidance_hash.as_str()
        ),
        ("task-9", TaskIntent::BugFix, "gh-abc")
    );
    assert!(event.tools_used.is_empty() && event.violations.is_empty());
    assert!(!event.test_results.ran);
    assert_eq!(
        (event.outcome_accepted, event.timestamp, event.duration_ms),
        (None, NOW, 0)
    );
    assert_eq!(ledger.event_count().await.unwrap(), 0);
}

#[tokio::test]
async fn seed_finalize_sets_the_duration_and_stores_the_event() {
    let ledger = ledger();
    let event = run(&ledger, "task-1", NOW - 1500);
    let finalized = ledger.finalize_event(event.clone()).await.unwrap();
    assert_eq!(finalized.duration_ms, 1500);
    assert_eq!(finalized.event_id, event.event_id, "finalize keeps the id");
    assert_eq!(ledger.export().await.unwrap(), [finalized]);
}

#[tokio::test]
async fn logging_keeps_the_callers_id_so_a_retry_is_a_no_op() {
    // Seed defect: logEvent replaced every id with a random one, so a retry duplicated.
    let ledger = ledger();
    let mut event = run(&ledger, "task-1", NOW);
    event.event_id = "run-42".into();
    let logged = ledger.log(event.clone()).await.unwrap();
    assert_eq!(logged.event_id, "run-42");
    ledger.log(event).await.unwrap();
    assert_eq!(ledger.event_count().await.unwrap(), 1);
}

// ---- retrieval ----

#[tokio::test]
async fn seed_events_by_task_returns_two_of_three() {
    let ledger = ledger();
    for task_id in ["task-1", "task-2", "task-1"] {
        ledger.log(run(&ledger, task_id, NOW)).await.unwrap();
    }
    let events = ledger.events_by_task("task-1").await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|event| event.task_id == "task-1"));
    assert!(ledger.events_by_task("task-3").await.unwrap().is_empty());
}

#[tokio::test]
async fn seed_recent_events_returns_the_newest_three_of_ten() {
    let ledger = ledger();
    for n in 0..10 {
        ledger
            .log(run(&ledger, &format!("task-{n}"), NOW + n))
            .await
            .unwrap();
    }
    let recent = ledger.recent_events(3).await.unwrap();
    let tasks: Vec<&str> = recent.iter().map(|event| event.task_id.as_str()).collect();
    assert_eq!(tasks, ["task-7", "task-8", "task-9"]);
    // Seed defect: getRecentEvents(0) returned everything.
    assert!(ledger.recent_events(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn seed_range_is_inclusive_at_both_ends_and_excludes_the_future() {
    let ledger = ledger();
    for (task_id, timestamp) in [
        ("old", NOW - 10_000),
        ("edge", NOW - 4000),
        ("now", NOW),
        ("future", NOW + 10_000),
    ] {
        ledger.log(run(&ledger, task_id, timestamp)).await.unwrap();
    }
    let events = ledger.events_in_range(NOW - 4000, NOW).await.unwrap();
    let tasks: Vec<&str> = events.iter().map(|event| event.task_id.as_str()).collect();
    assert_eq!(tasks, ["edge", "now"]);
    assert!(
        ledger
            .events_in_range(NOW, NOW - 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ledger
            .events_in_range(i64::MIN, i64::MAX)
            .await
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn seed_store_read_range_returns_the_middle_two() {
    // persistence.test.ts: readRange(1500, 3500) over timestamps 1000..4000 returns t2 and t3.
    let ledger = ledger();
    for (n, timestamp) in [1000, 2000, 3000, 4000].into_iter().enumerate() {
        ledger
            .log(run(&ledger, &format!("t{}", n + 1), timestamp))
            .await
            .unwrap();
    }
    let tasks: Vec<String> = ledger
        .events_in_range(1500, 3500)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.task_id)
        .collect();
    assert_eq!(tasks, ["t2", "t3"]);
    assert!(ledger.events_in_range(5000, 6000).await.unwrap().is_empty());
}

// ---- metrics and ranking ----

#[tokio::test]
async fn seed_three_violations_over_five_runs_is_a_rate_of_six() {
    let ledger = ledger();
    for n in 0..5 {
        let mut event = run(&ledger, &format!("task-{n}"), NOW);
        if n < 3 {
            event.violations.push(violation("R001", false));
        }
        ledger.log(event).await.unwrap();
    }
    let metrics = ledger.metrics().await.unwrap();
    assert_eq!(metrics.violation_rate, 6.0);
    assert_eq!(metrics.task_count, 5);
}

#[test]
fn seed_one_corrected_violation_of_two_is_half() {
    let ledger = ledger();
    let mut event = run(&ledger, "task-1", NOW);
    event.violations = vec![violation("R001", true), violation("R002", false)];
    assert_eq!(compute_metrics(&[event]).self_correction_rate, 0.5);
}

#[test]
fn seed_average_rework_of_10_20_30_is_20() {
    let ledger = ledger();
    let events: Vec<RunEvent> = [10, 20, 30]
        .into_iter()
        .map(|rework| RunEvent {
            rework_lines: rework,
            ..run(&ledger, "task-1", NOW)
        })
        .collect();
    assert_eq!(compute_metrics(&events).rework_lines, 20.0);
}

#[tokio::test]
async fn seed_an_empty_ledger_has_zero_rate_and_zero_tasks() {
    let metrics = ledger().metrics().await.unwrap();
    assert_eq!((metrics.violation_rate, metrics.task_count), (0.0, 0));
    // annal answers 1 here, as for runs without violations; the seed answered 0 only when
    // empty, which made the two cases disagree.
    assert_eq!(metrics.self_correction_rate, 1.0);
}

#[tokio::test]
async fn seed_ranking_puts_the_most_frequent_rule_first() {
    let ledger = ledger();
    for rule in ["R001", "R002", "R001", "R001"] {
        let mut event = run(&ledger, "task-1", NOW);
        event.violations.push(violation(rule, false));
        event.rework_lines = 10;
        ledger.log(event).await.unwrap();
    }
    let ranking = ledger.rank_violations().await.unwrap();
    assert_eq!(ranking.len(), 2);
    assert_eq!(
        (ranking[0].rule_id.as_str(), ranking[0].frequency),
        ("R001", 3)
    );
    assert_eq!((ranking[0].cost, ranking[0].score), (10.0, 30.0));
    assert_eq!(ranking[1].rule_id, "R002");
}

#[test]
fn ranking_ties_keep_first_seen_order() {
    let ledger = ledger();
    let mut a = run(&ledger, "task-1", NOW);
    a.violations = vec![violation("B", false), violation("A", false)];
    let ranking = rank_violations(&[a]);
    let rules: Vec<&str> = ranking.iter().map(|r| r.rule_id.as_str()).collect();
    assert_eq!(rules, ["B", "A"]);
}

// ---- export, import, reload ----

#[tokio::test]
async fn seed_export_then_import_into_a_new_ledger_gives_two() {
    let source = ledger();
    source.log(run(&source, "task-1", NOW)).await.unwrap();
    source.log(run(&source, "task-2", NOW + 1)).await.unwrap();
    let exported = source.export().await.unwrap();

    let target = ledger();
    let report = target.import(&exported).await.unwrap();
    assert_eq!(report.imported, 2);
    assert_eq!(target.event_count().await.unwrap(), 2);
    assert_eq!(target.export().await.unwrap(), exported);
}

#[tokio::test]
async fn importing_twice_stores_once() {
    // Seed defect: importEvents did not dedup, so re-importing duplicated every event.
    let source = ledger();
    source.log(run(&source, "task-1", NOW)).await.unwrap();
    let exported = source.export().await.unwrap();
    let target = ledger();
    target.import(&exported).await.unwrap();
    let again = target.import(&exported).await.unwrap();
    assert_eq!((again.imported, again.already_present), (0, 1));
    assert_eq!(target.event_count().await.unwrap(), 1);

    // The same id under another task is a conflict, reported and not stored.
    let mut clash = exported[0].clone();
    clash.task_id = "task-other".into();
    let report = target.import(&[clash]).await.unwrap();
    assert_eq!(report.conflicts, [exported[0].event_id.clone()]);
    assert_eq!(target.event_count().await.unwrap(), 1);
}

#[tokio::test]
async fn seed_every_field_survives_and_a_new_ledger_on_the_store_sees_it() {
    let store = store();
    let first = ledger_over(Arc::clone(&store));
    let mut event = run(&first, "task-full", 1_700_000_000_000);
    event.retrieved_rule_ids = vec!["R001".into(), "R017".into()];
    event.tools_used = vec!["Read".into(), "Bash".into()];
    event.files_touched = vec!["src/a.ts".into()];
    event.diff_summary.lines_added = 12;
    event.diff_summary.files_changed = 1;
    event.test_results.ran = true;
    event.test_results.passed = 3;
    event.violations = vec![Violation {
        location: Some("src/a.ts:4".into()),
        severity: Severity::Critical,
        ..violation("R001", false)
    }];
    event.outcome_accepted = Some(false);
    event.duration_ms = 12_345;
    event.session_id = Some("session-1".into());
    first.log(event.clone()).await.unwrap();

    let reloaded = ledger_over(store);
    assert_eq!(reloaded.export().await.unwrap(), [event]);
}

#[tokio::test]
async fn seed_metrics_after_reload() {
    let store = store();
    let first = ledger_over(Arc::clone(&store));
    let mut a = run(&first, "task-1", NOW);
    a.violations.push(violation("R001", false));
    a.rework_lines = 10;
    let b = RunEvent {
        rework_lines: 20,
        ..run(&first, "task-2", NOW)
    };
    first.import(&[a, b]).await.unwrap();

    let metrics = ledger_over(store).metrics().await.unwrap();
    assert_eq!(metrics.task_count, 2);
    assert_eq!(metrics.violation_rate, 5.0);
    assert_eq!(metrics.rework_lines, 15.0);
}

// ---- retention ----

#[tokio::test]
async fn seed_keeping_three_of_six_removes_the_oldest_three() {
    let ledger = ledger();
    for n in 0..6 {
        ledger
            .log(run(&ledger, &format!("task-{n}"), NOW + n))
            .await
            .unwrap();
    }
    let report = ledger.retain_newest(3).await.unwrap();
    assert_eq!(report.removed, 3);
    let tasks: Vec<String> = ledger
        .export()
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.task_id)
        .collect();
    assert_eq!(tasks, ["task-3", "task-4", "task-5"]);
}

#[tokio::test]
async fn seed_retention_under_the_limit_removes_nothing() {
    let ledger = ledger();
    ledger.log(run(&ledger, "task-1", NOW)).await.unwrap();
    assert_eq!(ledger.retain_newest(1).await.unwrap().removed, 0);
    ledger.log(run(&ledger, "task-2", NOW)).await.unwrap();
    assert_eq!(ledger.retain_newest(10).await.unwrap().removed, 0);
    assert_eq!(ledger.event_count().await.unwrap(), 2);
}

#[tokio::test]
async fn retention_keeps_the_newest_per_stream_and_spares_other_events() {
    let store = store();
    let ledger = ledger_over(Arc::clone(&store));
    let coder = id("agent-1");
    agent::spawned(&coder, "coder", "core", vec![], NOW)
        .append(&*store)
        .await
        .unwrap();
    for (n, task_id) in ["task-a", "task-b", "task-a", "task-b", "task-a"]
        .into_iter()
        .enumerate()
    {
        ledger
            .log(run(&ledger, task_id, NOW + n as i64))
            .await
            .unwrap();
    }
    let report = ledger.retain_newest(2).await.unwrap();
    assert_eq!(report.removed, 3);
    let left: Vec<(String, i64)> = ledger
        .export()
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.task_id, event.timestamp))
        .collect();
    assert_eq!(
        left,
        [
            ("task-b".to_owned(), NOW + 3),
            ("task-a".to_owned(), NOW + 4)
        ]
    );
    assert_eq!(store.stream_version(&coder).await.unwrap().0, 1);
    assert_eq!(
        store.stats(0).await.unwrap().total_events,
        3,
        "the agent event stays"
    );
}

// ---- evaluators ----

#[test]
fn seed_tests_pass() {
    let ledger = ledger();
    let mut event = run(&ledger, "task-1", NOW);
    event.test_results.ran = true;
    event.test_results.passed = 10;
    let passing = TestsPass.evaluate(&event);
    assert!(passing.passed);
    assert_eq!(passing.score, Some(1.0));
    event.test_results.failed = 2;
    assert!(!TestsPass.evaluate(&event).passed);
    event.test_results.ran = false;
    let not_run = TestsPass.evaluate(&event);
    assert!(!not_run.passed);
    assert_eq!(not_run.score, Some(0.0));
}

#[test]
fn seed_forbidden_command_scan() {
    let ledger = ledger();
    let scan = ForbiddenCommandScan::default();
    let mut event = run(&ledger, "task-1", NOW);
    event.tools_used = vec!["Read".into(), "Edit".into(), "Write".into()];
    assert!(scan.evaluate(&event).passed);
    event.tools_used.push("rm -rf /".into());
    let result = scan.evaluate(&event);
    assert!(!result.passed);
    assert!(result.details.contains("rm -rf /"));
    // Stateless matching: the same input gives the same verdict every time.
    assert!(!scan.evaluate(&event).passed);
}

#[test]
fn custom_command_patterns_replace_the_defaults_and_bad_ones_are_refused() {
    let ledger = ledger();
    let scan = ForbiddenCommandScan::with_patterns(&["^deploy\\b"]).unwrap();
    let mut event = run(&ledger, "task-1", NOW);
    event.tools_used = vec!["rm -rf /".into()];
    assert!(scan.evaluate(&event).passed);
    event.tools_used = vec!["deploy prod".into()];
    assert!(!scan.evaluate(&event).passed);
    let error = ForbiddenCommandScan::with_patterns(&["(unclosed"]).unwrap_err();
    assert_eq!(error.pattern, "(unclosed");
}

#[test]
fn forbidden_dependency_scan_can_fail() {
    // Seed defect: the scan passed whatever the run did.
    let ledger = ledger();
    let mut event = run(&ledger, "task-1", NOW);
    event.tools_used = vec!["npm install --save left-pad@1.3.0 react".into()];
    event.files_touched = vec!["package.json".into()];
    assert!(ForbiddenDependencyScan::default().evaluate(&event).passed);
    let scan = ForbiddenDependencyScan::new(["left-pad", "evil-crate"]);
    let result = scan.evaluate(&event);
    assert!(!result.passed);
    assert!(result.details.contains("left-pad"), "{}", result.details);
    assert!(
        result.details.contains("package.json"),
        "{}",
        result.details
    );

    event.tools_used = vec!["cargo add serde".into()];
    event.files_touched = vec!["vendor/node_modules/evil-crate/index.js".into()];
    assert!(!scan.evaluate(&event).passed);
    event.files_touched.clear();
    assert!(scan.evaluate(&event).passed);
}

#[test]
fn seed_violation_rate_with_max_two() {
    let ledger = ledger();
    let rate = ViolationRate { max: 2 };
    let mut event = run(&ledger, "task-1", NOW);
    event.violations = vec![violation("R1", false)];
    assert!(rate.evaluate(&event).passed);
    event.violations = vec![violation("R1", false); 3];
    let result = rate.evaluate(&event);
    assert!(!result.passed);
    assert_eq!(result.score, Some(0.0));
}

#[test]
fn seed_diff_quality_with_max_ratio_point_three() {
    let ledger = ledger();
    let quality = DiffQuality { max_ratio: 0.3 };
    let mut event = run(&ledger, "task-1", NOW);
    event.diff_summary.lines_added = 100;
    event.rework_lines = 10;
    assert!(quality.evaluate(&event).passed);
    event.rework_lines = 50;
    assert!(!quality.evaluate(&event).passed);
    event.diff_summary.lines_added = 0;
    assert!(
        quality.evaluate(&event).passed,
        "no change, nothing to rework"
    );
}

#[test]
fn evaluators_run_in_order_and_can_be_removed() {
    let mut ledger = ledger();
    assert_eq!(
        ledger.evaluator_names(),
        [
            "tests-pass",
            "forbidden-command-scan",
            "forbidden-dependency-scan",
            "violation-rate",
            "diff-quality"
        ]
    );
    ledger.add_evaluator(Box::new(TestsPass));
    assert_eq!(ledger.remove_evaluator("tests-pass"), 2);
    let event = run(&ledger, "task-1", NOW);
    let results = ledger.evaluate(&event);
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].name, "forbidden-command-scan");
}
