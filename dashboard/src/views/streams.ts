// Streams: search by id prefix (paged on the server), and a stream's events page by page with
// their payload and metadata and links to their traces.
import { get } from "../api.ts";
import { field, h, link, number } from "../dom.ts";
import { eventDetails } from "./event.ts";

const PAGE = 20;

export async function streams(root: HTMLElement, args: string[]): Promise<void> {
  const prefix = h("input", { id: "stream-prefix", value: args[0] ?? "", placeholder: "task-" });
  const results = h("div", {});
  const search = async (after?: string): Promise<void> => {
    const page = await get("/v1/streams", { prefix: prefix.value.trim(), after, limit: 50 });
    const list = h(
      "ul",
      { class: "stream-list", "data-testid": "streams" },
      page.streams.map((s) =>
        h("li", {}, link(`#/stream/${encodeURIComponent(s.stream)}`, s.stream), ` ${s.aggregateType}, ${number(s.events)} events, v${s.version}`),
      ),
    );
    const more = page.next
      ? h("button", { type: "button", onclick: () => void search(page.next ?? undefined) }, "Next page")
      : null;
    results.replaceChildren(page.streams.length ? list : h("p", {}, "No stream has this prefix."), more ?? "");
  };
  const form = h(
    "form",
    { class: "filters", role: "search" },
    field("Stream id prefix", prefix),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void search();
  });
  root.append(h("h2", { id: "view-title" }, "Streams"), form, results);
  await search();
}

export async function streamPage(root: HTMLElement, args: string[]): Promise<void> {
  const stream = args[0] ?? "";
  const from = Math.max(1, Number(args[1] ?? 1));
  const [{ version }, events] = await Promise.all([
    get("/v1/streams/{stream}", undefined, { stream }),
    get("/v1/streams/{stream}/events", { from, limit: PAGE }, { stream }),
  ]);
  const base = `#/stream/${encodeURIComponent(stream)}`;
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    from > 1 ? link(`${base}/${Math.max(1, from - PAGE)}`, "Previous page") : null,
    from + PAGE <= version ? link(`${base}/${from + PAGE}`, "Next page") : null,
  );
  root.append(
    h("h2", { id: "view-title" }, `Stream ${stream}`),
    h("p", { "data-testid": "stream-version" }, `version ${version}; events ${from}–${from + events.length - 1}`),
    pager,
    h("div", { class: "events" }, events.map(eventDetails)),
  );
}
