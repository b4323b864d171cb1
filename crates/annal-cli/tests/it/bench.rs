// Goal: `annal bench` runs the whole wl1 script and reports every step with its seed figure and
// target. Method: a small run (1,000 events) with --json; check the steps, counts and ratios.

use crate::support::Sandbox;

#[test]
fn bench_reports_every_step() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir.path().to_str().unwrap().to_owned();
    let report = sandbox.json_lines(&[
        "bench",
        "--events",
        "1000",
        "--one-at-a-time",
        "64",
        "--dir",
        &dir,
    ]);
    let figures = report[0]["figures"].as_array().unwrap();
    let step = |name: &str| {
        figures
            .iter()
            .find(|f| f["step"] == name)
            .unwrap_or_else(|| panic!("no step {name:?} in {figures:?}"))
    };
    for name in [
        "append one at a time",
        "append, 64 concurrent tasks",
        "append wl1 via `annal append --stdin`",
        "reopen",
        "query 2 types + time window",
        "full replay (median of 3)",
        "build 3 projections (median of 3)",
        "append batches of 1,000, one stream",
        "bytes per event on disk",
    ] {
        assert!(step(name)["value"].as_f64().unwrap() > 0.0, "{name}");
    }
    assert_eq!(step("full replay (median of 3)")["items"], 1000);
    assert_eq!(
        step("read one agent stream")["items"],
        1,
        "agent-7 holds one event at N=1,000"
    );
    assert_eq!(step("reopen")["seed"], 6.1, "the seed's figure at N=1,000");
    assert!(
        step("append one at a time")["ceiling"].as_f64().unwrap() > 0.0,
        "fsync ceiling"
    );
    // The batches are shown against two plain insert loops: into annal's schema (the target's
    // ceiling) and into a bare table, the same batches in both rows.
    let batches = step("append batches of 1,000, one stream");
    let against_bare = step("same batches, ceiling without indexes");
    assert!(batches["ceiling"].as_f64().unwrap() > 0.0);
    assert!(against_bare["ceiling"].as_f64().unwrap() > 0.0);
    assert_eq!(batches["value"], against_bare["value"]);
    assert!(batches["target"].as_f64().unwrap() >= 150_000.0);
    assert!(against_bare["target"].is_null(), "{against_bare}");
    let leftovers = std::fs::read_dir(sandbox.dir.path()).unwrap().count();
    assert_eq!(leftovers, 0, "the bench removes its stores");
}
