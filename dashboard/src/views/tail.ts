// Live tail: events as they commit, filtered by type and stream prefix (on the server) and by
// agent and correlation id (here). Pausing closes the connection and remembers the last position
// shown; resuming asks the server for everything after it, so nothing is lost and the page holds
// a bounded number of rows.
import { get, type RecordedEvent } from "../api.ts";
import { field, h, link, time } from "../dom.ts";
import { follow } from "../live.ts";

const ROWS_MAX = 500;

function agentOf(event: RecordedEvent): string {
  const agentId = event.payload["agentId"];
  return typeof agentId === "string" ? agentId : event.source;
}

export async function tail(root: HTMLElement): Promise<() => void> {
  const { head } = await get("/v1/head");
  const types = h("input", { id: "tail-types", placeholder: "task:failed,agent:spawned" });
  const prefix = h("input", { id: "tail-prefix", placeholder: "task-" });
  const agent = h("input", { id: "tail-agent", placeholder: "agent id" });
  const correlation = h("input", { id: "tail-correlation", placeholder: "correlation id" });
  const pause = h("button", { type: "button", "data-testid": "pause", "aria-pressed": "false" }, "Pause");
  const clear = h("button", { type: "button", class: "secondary" }, "Clear");
  const state = h("p", { class: "muted", "aria-live": "polite", "data-testid": "tail-state" }, "");
  const body = h("tbody", { "data-testid": "tail-rows" });
  let last = head;
  let stop: (() => void) | null = null;

  const shown = (event: RecordedEvent): boolean =>
    (!agent.value || agentOf(event) === agent.value.trim()) &&
    (!correlation.value || event.correlationId === correlation.value.trim());

  const add = (event: RecordedEvent): void => {
    last = Math.max(last, event.position);
    if (!shown(event)) return;
    const row = h(
      "tr",
      { "data-position": event.position },
      h("td", {}, String(event.position)),
      h("td", {}, time(event.timestamp)),
      h("td", {}, event.type),
      h("td", {}, link(`#/stream/${encodeURIComponent(event.aggregateId)}`, event.aggregateId)),
      h("td", {}, agentOf(event)),
      h("td", {}, link(`#/event/${encodeURIComponent(event.id)}`, "open")),
    );
    body.prepend(row);
    while (body.rows.length > ROWS_MAX) body.lastElementChild?.remove();
  };

  const start = (): void => {
    stop = follow({
      from: last,
      types: types.value.trim(),
      streamPrefix: prefix.value.trim(),
      onEvent: add,
      onError: (message) => (state.textContent = `Reconnecting: ${message}`),
    });
    state.textContent = `Following from position ${last}`;
  };
  const halt = (): void => {
    stop?.();
    stop = null;
  };

  pause.addEventListener("click", () => {
    if (stop) {
      halt();
      pause.textContent = "Resume";
      pause.setAttribute("aria-pressed", "true");
      state.textContent = `Paused after position ${last}; resuming shows everything since`;
    } else {
      pause.textContent = "Pause";
      pause.setAttribute("aria-pressed", "false");
      start();
    }
  });
  clear.addEventListener("click", () => body.replaceChildren());
  // A new server-side filter follows from now: what the old filter hid is not replayed.
  for (const input of [types, prefix]) {
    input.addEventListener("change", () => {
      if (stop) {
        halt();
        start();
      }
    });
  }

  root.append(
    h("h2", { id: "view-title" }, "Live tail"),
    h(
      "form",
      { class: "filters", onsubmit: (e: Event) => e.preventDefault() },
      field("Event types", types),
      field("Stream prefix", prefix),
      field("Agent", agent),
      field("Correlation id", correlation),
      pause,
      clear,
    ),
    state,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("caption", {}, `Newest first, at most ${ROWS_MAX} rows`),
        h(
          "thead",
          {},
          h("tr", {}, ["position", "time", "type", "stream", "agent", ""].map((name) => h("th", { scope: "col" }, name))),
        ),
        body,
      ),
    ),
  );
  start();
  return halt;
}
