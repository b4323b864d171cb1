// Swarm: the agents (status, health, role, domain, tasks done and failed, average time) and a
// timeline with one row per agent: task bars from start to end, memory writes and errors as
// markers. Follows the time-travel position.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  PointElement,
  ScatterController,
  Tooltip,
} from "chart.js";
import type { SwarmAsOf } from "../api.ts";
import { cssVar, h, link, number, table, time } from "../dom.ts";
import { bar, live, load } from "../timetravel.ts";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, PointElement, ScatterController, Legend, Tooltip);

function timeline(state: SwarmAsOf): { canvas: HTMLCanvasElement; chart: Chart | null } {
  const agents = state.agents.map((a) => a.id);
  const canvas = h("canvas", { role: "img", "aria-label": "Timeline: one row per agent, task bars, memory writes and errors" });
  if (agents.length === 0) return { canvas, chart: null };
  const origin = Math.min(...state.timeline.map((m) => m.start), ...state.agents.map((a) => a.spawnedAt));
  const end = state.timestamp ?? origin;
  const rel = (ms: number): number => (ms - origin) / 1000;
  const bars = (ok: boolean) =>
    state.timeline
      .filter((m) => m.kind === "task" && (m.status === "failed") !== ok)
      .map((m) => ({ x: [rel(m.start), rel(m.end ?? end)], y: m.agent }));
  const points = (kind: string) =>
    state.timeline.filter((m) => m.kind === kind).map((m) => ({ x: rel(m.start), y: m.agent }));
  const chart = new Chart(canvas, {
    data: {
      labels: agents,
      datasets: [
        { type: "bar", label: "task", data: bars(true) as never, backgroundColor: cssVar("--accent"), grouped: false },
        { type: "bar", label: "failed task", data: bars(false) as never, backgroundColor: cssVar("--bad"), grouped: false },
        { type: "scatter", label: "memory write", data: points("memory") as never, backgroundColor: cssVar("--ok"), pointStyle: "triangle", pointRadius: 4 },
        { type: "scatter", label: "error", data: points("error") as never, backgroundColor: cssVar("--bad"), pointStyle: "crossRot", borderColor: cssVar("--bad"), pointRadius: 6 },
      ],
    },
    options: {
      indexAxis: "y",
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: {
        x: { type: "linear", title: { display: true, text: "seconds since the first event", color: cssVar("--muted") }, ticks: { color: cssVar("--muted") }, grid: { color: cssVar("--grid") } },
        y: { type: "category", labels: agents, ticks: { color: cssVar("--muted"), autoSkip: false }, grid: { color: cssVar("--grid") } },
      },
      plugins: { legend: { labels: { color: cssVar("--fg") } } },
    },
  });
  return { canvas, chart };
}

const PAGE = 40;
const REFRESH_MS = 5000;

export async function swarm(root: HTMLElement): Promise<() => void> {
  let chart: Chart | null = null;
  let offset = 0;
  let left = false;
  const draw = async (): Promise<void> => {
    const state = await load({ offset, limit: PAGE });
    if (left) return;
    chart?.destroy();
    const drawn = timeline(state);
    chart = drawn.chart;
    const rows = state.agents.map((a) => [
      a.id,
      h("span", { class: `badge status-${a.status}` }, a.status),
      h("span", { class: `badge health-${a.health}` }, a.health),
      a.role,
      a.domain,
      number(a.completedCount),
      number(a.failedCount),
      a.averageTaskDurationMs === null || a.averageTaskDurationMs === undefined ? "–" : `${number(a.averageTaskDurationMs)} ms`,
      a.currentTask ? link(`#/task/${encodeURIComponent(a.currentTask)}`, a.currentTask) : "",
      time(a.spawnedAt),
    ]);
    root.replaceChildren(
      h("h2", { id: "view-title" }, "Swarm"),
      bar(state, () => void draw()),
      h("p", { "data-testid": "agent-count" }, `agents: ${state.agentTotal} · active: ${state.activeCount}`),
      table(
        `Agents ${offset + 1}–${offset + state.agents.length} of ${state.agentTotal}`,
        ["agent", "status", "health", "role", "domain", "done", "failed", "average", "current task", "spawned"],
        rows,
        "agents",
      ),
      pager(state.agentTotal),
      h(
        "figure",
        { class: "chart" },
        h("figcaption", {}, "Timeline of these agents: task bars, memory writes and errors"),
        h("div", { class: "chart-box timeline" }, drawn.canvas),
      ),
    );
    const box = root.querySelector<HTMLElement>(".timeline");
    box?.style.setProperty("height", `${Math.max(160, state.agents.length * 26 + 80)}px`);
  };
  const pager = (total: number): HTMLElement => {
    const previous = h("button", { type: "button", disabled: offset === 0 }, "Previous agents");
    const next = h("button", { type: "button", disabled: offset + PAGE >= total }, "Next agents");
    previous.addEventListener("click", () => ((offset = Math.max(0, offset - PAGE)), void draw()));
    next.addEventListener("click", () => ((offset += PAGE), void draw()));
    return h("div", { class: "pager" }, previous, next);
  };
  await draw();
  // Following the head, the view redraws itself, except while the user is on one of its
  // controls (a redraw would take the focus away).
  const refresh = setInterval(() => {
    if (live() && !root.contains(document.activeElement)) void draw().catch(() => undefined);
  }, REFRESH_MS);
  return () => {
    left = true;
    clearInterval(refresh);
    chart?.destroy();
  };
}
