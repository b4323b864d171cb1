// Tasks: filter by status, priority and agent, paged on the server; a task's page shows its
// state, its event history and its causation/correlation trace. Follows the time-travel position.
import { get, type TaskView } from "../api.ts";
import { field, h, link, number, percent, pretty, table, time } from "../dom.ts";
import { bar, load } from "../timetravel.ts";
import { traceSections } from "./event.ts";

const PAGE = 50;
const STATUSES = ["", "pending", "queued", "assigned", "in-progress", "blocked", "completed", "failed", "cancelled"];
const PRIORITIES = ["", "critical", "high", "medium", "low"];

function select(id: string, options: string[], value: string): HTMLSelectElement {
  return h("select", { id }, options.map((o) => h("option", { value: o, selected: o === value }, o || "any")));
}

export async function tasks(root: HTMLElement): Promise<void> {
  const filters = { status: "", priority: "", agent: "", offset: 0 };
  const draw = async (): Promise<void> => {
    const state = await load({
      taskStatus: filters.status,
      taskPriority: filters.priority,
      taskAgent: filters.agent,
      offset: filters.offset,
      limit: PAGE,
    });
    const page = state.tasks;
    const status = select("task-status", STATUSES, filters.status);
    const priority = select("task-priority", PRIORITIES, filters.priority);
    const agent = h("input", { id: "task-agent", value: filters.agent, placeholder: "agent id" });
    const apply = (): void => {
      filters.status = status.value;
      filters.priority = priority.value;
      filters.agent = agent.value.trim();
      filters.offset = 0;
      void draw();
    };
    for (const control of [status, priority, agent]) control.addEventListener("change", apply);
    const previous = h("button", { type: "button", disabled: filters.offset === 0 }, "Previous page");
    const next = h("button", { type: "button", disabled: filters.offset + PAGE >= page.total }, "Next page");
    previous.addEventListener("click", () => ((filters.offset = Math.max(0, filters.offset - PAGE)), void draw()));
    next.addEventListener("click", () => ((filters.offset += PAGE), void draw()));
    const rows = page.items.map((t: TaskView) => [
      link(`#/task/${encodeURIComponent(t.id)}`, t.id),
      t.title,
      t.priority,
      h("span", { class: `badge status-${t.status}` }, t.status),
      t.assignedAgent ?? "",
      t.durationMs === null || t.durationMs === undefined ? "" : `${number(t.durationMs)} ms`,
      t.error ?? "",
    ]);
    const counts = Object.entries(page.byStatus).map(([s, n]) => `${s} ${n}`).join(", ");
    root.replaceChildren(
      h("h2", { id: "view-title" }, "Tasks"),
      bar(state, () => void draw()),
      h(
        "p",
        { "data-testid": "task-summary" },
        `${page.total} matching; ${counts}; success ${percent(page.successRate)}, failure ${percent(page.failureRate)}, average ${number(page.averageDurationMs)} ms`,
      ),
      h("form", { class: "filters", onsubmit: (e: Event) => e.preventDefault() }, field("Status", status), field("Priority", priority), field("Agent", agent)),
      table(`Tasks ${filters.offset + 1}–${filters.offset + page.items.length} of ${page.total}`, ["task", "title", "priority", "status", "agent", "duration", "error"], rows, "tasks"),
      h("div", { class: "pager" }, previous, next),
    );
  };
  await draw();
}

export async function taskPage(root: HTMLElement, args: string[]): Promise<void> {
  const id = args[0] ?? "";
  const [state, history] = await Promise.all([
    load({ task: id, limit: 1 }),
    get("/v1/streams/{stream}/events", { limit: 200 }, { stream: id }),
  ]);
  const task = state.tasks.items[0];
  const first = history[0];
  const trace = first ? await get("/v1/events/{id}/trace", { limit: 50 }, { id: first.id }) : null;
  root.append(
    h("h2", { id: "view-title" }, `Task ${id}`),
    bar(state, () => {
      root.replaceChildren();
      void taskPage(root, args);
    }),
    task
      ? h(
          "dl",
          { class: "facts", "data-testid": "task-facts" },
          ...[
            ["status", task.status],
            ["title", task.title],
            ["priority", task.priority],
            ["agent", task.assignedAgent ?? ""],
            ["created", time(task.createdAt)],
            ["started", time(task.startedAt)],
            ["completed", time(task.completedAt)],
            ["failed", time(task.failedAt)],
            ["duration", task.durationMs === null || task.durationMs === undefined ? "" : `${task.durationMs} ms`],
            ["error", task.error ?? ""],
            ["retries", String(task.retryCount)],
          ].flatMap(([k, v]) => [h("dt", {}, k ?? ""), h("dd", {}, v ?? "")]),
        )
      : h("p", {}, "This task does not exist at this position."),
    task?.result !== undefined && task?.result !== null ? h("details", {}, h("summary", {}, "result"), pretty(task.result)) : "",
    table(
      "Event history",
      ["version", "position", "time", "type", ""],
      history.map((e) => [String(e.version), String(e.position), time(e.timestamp), e.type, link(`#/event/${encodeURIComponent(e.id)}`, "open")]),
      "task-history",
    ),
    trace ? h("section", { "aria-label": "Trace" }, h("h3", {}, "Trace of its first event"), traceSections(trace)) : "",
  );
}
