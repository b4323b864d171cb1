// Run ledger: the newest runs with their evaluation (tests, violations, acceptance), the
// optimization metrics over all runs, and the violations ranked.
import { get } from "../api.ts";
import { h, number, table, time } from "../dom.ts";

type Loose = Record<string, unknown>;

function field(run: Loose, name: string): unknown {
  return run[name];
}

function text(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return number(value, Number.isInteger(value) ? 0 : 2);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export async function runs(root: HTMLElement): Promise<void> {
  const [list, metrics, violations] = await Promise.all([
    get("/v1/runs", { recent: 100 }),
    get("/v1/runs/metrics"),
    get("/v1/runs/violations"),
  ]);
  const rows = (list as Loose[]).map((run) => {
    const tests = field(run, "testResults") as Loose | undefined;
    const broken = field(run, "violations");
    return [
      text(field(run, "taskId")),
      time(field(run, "timestamp") as number),
      `${text(field(run, "durationMs"))} ms`,
      tests ? `${text(tests["passed"])} passed, ${text(tests["failed"])} failed` : "",
      Array.isArray(broken) ? String(broken.length) : "0",
      text(field(run, "reworkLines")),
      field(run, "outcomeAccepted") === null ? "undecided" : field(run, "outcomeAccepted") ? "accepted" : "rejected",
    ];
  });
  const figures = Object.entries(metrics as Loose).map(([name, value]) => [name, text(value)]);
  const ranked = (violations as Loose[]).map((v) => [text(v["ruleId"]), text(v["frequency"]), text(v["cost"]), text(v["score"])]);
  root.append(
    h("h2", { id: "view-title" }, "Run ledger"),
    table("Metrics over every run", ["metric", "value"], figures, "run-metrics"),
    table("Newest runs", ["task", "started", "duration", "tests", "violations", "rework lines", "outcome"], rows, "runs"),
    table("Violations ranked", ["rule", "frequency", "cost", "score"], ranked, "violations"),
  );
}
