//! The annal conformance suite: the rules every backend honours, as real tests.
//!
//! A backend runs the whole suite with one macro call in its integration tests:
//!
//! ```text
//! async fn make() -> annal_testkit::Harness {
//!     annal_testkit::Harness::new(annal_core::MemoryStore::new())
//! }
//! annal_testkit::conformance_tests!(make);
//! ```
//!
//! which expands to one `#[test]` per rule (see [`rules`]). Backends with a disk also call
//! [`reopen_tests!`] with a [`Reopen`] location. [`model`] checks random operation sequences
//! against a plain `BTreeMap` model. [`crash`] is the durable backends' probe process and
//! SIGKILL test, run with one [`sigkill_tests!`] call.

// This crate is test code: a panic is how a rule reports a broken backend.
#![allow(clippy::unwrap_used)]

pub mod crash;
#[cfg(unix)]
pub mod faults;
pub mod fixtures;
mod harness;
pub mod model;
#[cfg(feature = "postgres-cluster")]
pub mod pg_cluster;
pub mod rules;

pub use harness::{Harness, Reopen};

/// Runs `future` to completion on a fresh multi-threaded runtime (what each generated test
/// does, so backends need no async test macro of their own).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
        .block_on(future)
}

/// Calls `$callback!` with the path of every rule that needs only a fresh store.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_rule {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { ($($args)*)
            append::append_assigns_versions_and_positions,
            append::positions_are_global_across_streams,
            append::batch_is_atomic,
            append::expected_no_stream,
            append::expected_exact,
            append::expected_stream_exists_and_any,
            append::concurrent_expected_version_has_one_winner,
            append::concurrent_appends_are_gap_free,
            append::envelope_round_trips_with_defaults,
            retry::retry_returns_original_result,
            retry::duplicate_id_in_other_stream_is_refused,
            retry::partially_stored_batch_is_refused,
            retry::duplicate_id_within_batch_is_refused,
            limits::invalid_stream_ids_are_refused,
            limits::empty_batch_is_refused,
            limits::oversize_batch_is_refused,
            limits::non_object_payload_is_refused,
            limits::non_object_metadata_is_refused,
            limits::oversize_payload_is_refused,
            limits::oversize_text_fields_are_refused,
            limits::event_type_with_empty_domain_needs_an_aggregate_type,
            limits::oversize_batch_bytes_are_refused,
            limits::largest_versions_and_positions_do_not_overflow,
            read::read_stream_forward,
            read::read_stream_backward,
            read::read_missing_stream_is_empty,
            read::read_all_from_position,
            read::long_reads_page_through,
            read::event_by_id_finds_readable_events,
            query::query_by_types_and_aggregates,
            query::query_by_source_correlation_causation,
            query::query_time_window,
            query::query_limit_offset_direction,
            query::query_refuses_empty_window,
            query::query_finds_sparse_matches,
            indexed::indexed_queries_equal_scanned,
            indexed::indexed_queries_over_many_blocks,
            subscribe::subscribe_history_then_live,
            subscribe::subscribe_from_position,
            subscribe::subscribe_with_filter,
            subscribe::slow_subscriber_loses_nothing,
            subscribe::subscriber_sees_commits_in_order_under_concurrency,
            snapshot::snapshot_round_trips,
            snapshot::older_snapshot_is_refused,
            snapshot::invalid_snapshots_are_refused,
            snapshot::load_aggregate_starts_after_snapshot,
            projection::projection_resumes_from_checkpoint,
            projection::projection_saves_periodically,
            projection::projection_follows_live,
            projection::projection_rebuilds_from_zero,
            retention::truncate_removes_older_versions,
            retention::truncate_respects_snapshot,
            retention::delete_stream_hides_everything,
            retention::delete_stream_checks_expected_version,
            retention::retain_keeps_newest_events,
            retention::retain_by_age_respects_snapshots,
            retention::retain_by_age_keeps_every_stream_a_suffix,
            stats::stats_are_correct,
            stats::stats_of_empty_store,
            stats::stats_with_no_cap_lists_every_stream,
            seed::seed_appended_event_has_version_one,
            seed::seed_versions_are_per_aggregate,
            seed::seed_retrieval,
            seed::seed_filtering,
            seed::seed_replay,
            seed::seed_snapshots,
            seed::seed_stats,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    (($make:path) $($module:ident :: $rule:ident,)*) => {
        $(
            #[test]
            fn $rule() {
                $crate::block_on(async {
                    let harness = $make().await;
                    $crate::rules::$module::$rule(::std::sync::Arc::clone(&harness.store)).await;
                });
            }
        )*
    };
}

/// Expands to one `#[test]` per conformance rule, each on a fresh store from `$make`, an
/// `async fn() -> Harness`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::__for_each_rule!(__conformance_test_fns!($make));

        #[test]
        fn model_matches_btreemap() {
            $crate::model::check_against_model(|| $make());
        }
    };
}

/// Expands to the durability and read-only rules, each on a fresh location from `$make`, a
/// `fn() -> impl Reopen`.
#[macro_export]
macro_rules! reopen_tests {
    ($make:path) => {
        #[test]
        fn acknowledged_state_survives_reopen() {
            $crate::block_on(async {
                let location = $make();
                $crate::rules::durability::acknowledged_state_survives_reopen(&location).await;
            });
        }

        #[test]
        fn read_only_follows_writer() {
            $crate::block_on(async {
                let location = $make();
                $crate::rules::durability::read_only_follows_writer(&location).await;
            });
        }

        #[test]
        fn read_only_refuses_writes() {
            $crate::block_on(async {
                let location = $make();
                $crate::rules::durability::read_only_refuses_writes(&location).await;
            });
        }
    };
}

/// Expands to the SIGKILL test ([`crash::sigkill_test`]) against `$target`, an expression
/// giving a [`crash::KillTarget`].
#[macro_export]
macro_rules! sigkill_tests {
    ($target:expr) => {
        #[test]
        fn acknowledged_appends_survive_sigkill() {
            $crate::block_on($crate::crash::sigkill_test($target));
        }
    };
}
