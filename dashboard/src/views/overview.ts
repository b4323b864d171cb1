// Overview: store totals, events per second (live), counts by type and aggregate type, live
// subscribers, and each projection's checkpoint and lag behind the head.
import { Chart, LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler } from "chart.js";
import { get, type ServerStatus, type Stats } from "../api.ts";
import { bytes, cssVar, h, number, table, tile } from "../dom.ts";
import { follow } from "../live.ts";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler);

const WINDOW_SECONDS = 60;

function counts(caption: string, map: Record<string, number>, testId: string): HTMLElement {
  const rows = Object.entries(map)
    .sort((a, b) => b[1] - a[1])
    .map(([name, count]) => [name, number(count)]);
  return table(caption, ["name", "events"], rows, testId);
}

function render(stats: Stats, status: ServerStatus): HTMLElement[] {
  return [
    h(
      "div",
      { class: "tiles" },
      tile("events", number(stats.totalEvents), "total-events"),
      tile("streams", number(stats.streamCount), "stream-count"),
      tile("head position", number(status.head), "head"),
      tile("store size", bytes(stats.bytesOnDisk), "store-size"),
      tile("live subscribers", number(status.liveSubscribers), "live-subscribers"),
      tile("snapshots", number(stats.snapshotCount), "snapshot-count"),
    ),
    h(
      "div",
      { class: "columns" },
      counts("Events by type", stats.eventsByType, "by-type"),
      counts("Events by aggregate type", stats.eventsByAggregateType, "by-aggregate-type"),
      table(
        "Projections: checkpoint and lag behind the head",
        ["projection", "checkpoint", "lag"],
        status.projections.map((p) =>
          p.checkpoint === null || p.checkpoint === undefined
            ? [p.name, "not loaded yet", "–"]
            : [p.name, number(p.checkpoint), number(p.lag)],
        ),
        "projections",
      ),
    ),
  ];
}

/** Events per second over the last window, from the newest events' timestamps. */
async function recent(perSecond: Map<number, number>): Promise<void> {
  const newest = await get("/v1/events", { direction: "backward", limit: 1000 });
  const since = Math.floor(Date.now() / 1000) - WINDOW_SECONDS;
  for (const event of newest) {
    const second = Math.floor(event.timestamp / 1000);
    if (second > since) perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
}

export async function overview(root: HTMLElement): Promise<() => void> {
  const perSecond = new Map<number, number>();
  const [stats, status] = await Promise.all([get("/v1/stats", { top: 10 }), get("/v1/status"), recent(perSecond)]);
  const figures = h("div", {}, render(stats, status));
  const canvas = h("canvas", { "aria-label": "Events per second over the last minute", role: "img" });
  const now = Math.floor(Date.now() / 1000);
  const seconds = Array.from({ length: WINDOW_SECONDS }, (_, i) => now - WINDOW_SECONDS + 1 + i);
  const chart = new Chart(canvas, {
    type: "line",
    data: {
      labels: seconds.map((s) => `${s - now}s`),
      datasets: [
        {
          label: "events per second",
          data: seconds.map(() => 0),
          borderColor: cssVar("--accent"),
          backgroundColor: cssVar("--accent-soft"),
          fill: true,
          pointRadius: 0,
          tension: 0.2,
        },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: {
        x: { ticks: { color: cssVar("--muted"), maxTicksLimit: 7 }, grid: { color: cssVar("--grid") } },
        y: { beginAtZero: true, ticks: { color: cssVar("--muted"), precision: 0 }, grid: { color: cssVar("--grid") } },
      },
      plugins: {},
    },
  });
  const rate = h("strong", { "data-testid": "rate" }, "0");
  const minute = h("strong", { "data-testid": "rate-minute" }, "0");
  // Counted by arrival: a live event is "now" here even when its writer's clock differs.
  const stop = follow({
    from: status.head,
    onEvent: () => {
      const second = Math.floor(Date.now() / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    },
  });
  const draw = (): void => {
    const second = Math.floor(Date.now() / 1000);
    const data = Array.from({ length: WINDOW_SECONDS }, (_, i) => perSecond.get(second - WINDOW_SECONDS + 1 + i) ?? 0);
    for (const key of perSecond.keys()) if (key <= second - WINDOW_SECONDS) perSecond.delete(key);
    const dataset = chart.data.datasets[0];
    if (dataset) dataset.data = data;
    chart.update();
    rate.textContent = String(data[data.length - 2] ?? 0);
    minute.textContent = String(data.reduce((sum, n) => sum + n, 0));
  };
  draw();
  const tick = setInterval(draw, 1000);
  const refresh = setInterval(() => {
    Promise.all([get("/v1/stats", { top: 10 }), get("/v1/status")]).then(
      ([s, st]) => figures.replaceChildren(...render(s, st)),
      () => undefined,
    );
  }, 5000);
  root.append(
    h("h2", { id: "view-title" }, "Overview"),
    figures,
    h(
      "figure",
      { class: "chart" },
      h("figcaption", {}, "Events per second, live (last second: ", rate, "; last minute: ", minute, ")"),
      h("div", { class: "chart-box" }, canvas),
    ),
  );
  return () => {
    stop();
    clearInterval(tick);
    clearInterval(refresh);
    chart.destroy();
  };
}
