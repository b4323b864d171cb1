// One event: its payload and metadata, pretty-printed, and its trace: the events that led to it,
// the events it caused and the events sharing its correlation id.
import { get, type RecordedEvent, type Trace } from "../api.ts";
import { h, link, pretty, table, time } from "../dom.ts";

function events(caption: string, list: RecordedEvent[], truncated: boolean, testId: string): HTMLElement {
  return table(
    caption + (truncated ? " (first ones only)" : ""),
    ["position", "time", "type", "stream", ""],
    list.map((e) => [
      String(e.position),
      time(e.timestamp),
      e.type,
      link(`#/stream/${encodeURIComponent(e.aggregateId)}`, e.aggregateId),
      link(`#/event/${encodeURIComponent(e.id)}`, "open"),
    ]),
    testId,
  );
}

export function traceSections(trace: Trace): HTMLElement[] {
  return [
    trace.missingCause ? h("p", {}, `Its chain starts at ${trace.missingCause}, which is not stored.`) : null,
    events("What led to it", trace.causes, trace.causesTruncated, "causes"),
    events("What it caused", trace.effects, trace.effectsTruncated, "effects"),
    events("Correlated events", trace.correlated, trace.correlatedTruncated, "correlated"),
  ].filter((x): x is HTMLElement => x !== null);
}

export function eventDetails(event: RecordedEvent): HTMLElement {
  return h(
    "article",
    { class: "event", "data-testid": "event" },
    h(
      "p",
      {},
      h("strong", {}, event.type),
      " · ",
      link(`#/stream/${encodeURIComponent(event.aggregateId)}`, `${event.aggregateId} v${event.version}`),
      ` · position ${event.position} · ${time(event.timestamp)} · source ${event.source}`,
    ),
    event.correlationId ? h("p", {}, `correlation ${event.correlationId}`) : null,
    event.causationId ? h("p", {}, `caused by ${event.causationId}`) : null,
    h("h4", {}, "payload"),
    pretty(event.payload),
    h("h4", {}, "metadata"),
    pretty(event.metadata),
    h("p", {}, link(`#/event/${encodeURIComponent(event.id)}`, "its causes, effects and correlated events")),
  );
}

export async function eventPage(root: HTMLElement, args: string[]): Promise<void> {
  const id = args[0] ?? "";
  const trace = await get("/v1/events/{id}/trace", { limit: 100 }, { id });
  root.append(h("h2", { id: "view-title" }, `Event ${id}`), eventDetails(trace.event), ...traceSections(trace));
}
