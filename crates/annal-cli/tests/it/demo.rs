// Goal: `annal demo` runs a small swarm, prints the three projections, and leaves a store that
// `annal verify` finds sound. Method: run both commands on a temp store and check their output.

use crate::support::Sandbox;

#[test]
fn demo_prints_projections_and_verifies_clean() {
    let sandbox = Sandbox::new();
    let text = sandbox.ok(&["demo", "--agents", "2", "--tasks", "10"]);
    for word in ["simulated run", "agents (", "tasks (", "memor"] {
        assert!(text.contains(word), "demo output lacks {word:?}:\n{text}");
    }
    let report = sandbox.json_lines(&["verify"]);
    assert_eq!(report[0]["problems"], 0, "{report:?}");
    assert!(report[0]["events"].as_u64().unwrap() > 10);
    assert!(sandbox.ok(&["verify"]).contains("no problems"));
}
