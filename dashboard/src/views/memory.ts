// Memory: namespaces with their sizes, entries with their reads and status (paged on the server),
// and the most-read keys. Follows the time-travel position.
import type { MemoryView } from "../api.ts";
import { bytes, field, h, number, table, time } from "../dom.ts";
import { bar, load } from "../timetravel.ts";

const PAGE = 50;

function entryRow(m: MemoryView): (string | HTMLElement)[] {
  return [m.namespace, m.key, m.id, m.memoryType, bytes(m.size), number(m.accessCount), h("span", { class: `badge memory-${m.status}` }, m.status), time(m.storedAt)];
}

export async function memory(root: HTMLElement): Promise<void> {
  const filters = { namespace: "", offset: 0 };
  const draw = async (): Promise<void> => {
    const state = await load({ namespace: filters.namespace, offset: filters.offset, limit: PAGE, top: 10 });
    const page = state.memory;
    const namespaces = Object.keys(page.countByNamespace);
    const namespace = h(
      "select",
      { id: "memory-namespace" },
      ["", ...namespaces].map((n) => h("option", { value: n, selected: n === filters.namespace }, n || "any")),
    );
    namespace.addEventListener("change", () => ((filters.namespace = namespace.value), (filters.offset = 0), void draw()));
    const previous = h("button", { type: "button", disabled: filters.offset === 0 }, "Previous page");
    const next = h("button", { type: "button", disabled: filters.offset + PAGE >= page.total }, "Next page");
    previous.addEventListener("click", () => ((filters.offset = Math.max(0, filters.offset - PAGE)), void draw()));
    next.addEventListener("click", () => ((filters.offset += PAGE), void draw()));
    const head = ["namespace", "key", "id", "type", "size", "reads", "status", "stored"];
    root.replaceChildren(
      h("h2", { id: "view-title" }, "Memory"),
      bar(state, () => void draw()),
      table(
        "Namespaces",
        ["namespace", "entries", "live size"],
        namespaces.map((n) => [n, number(page.countByNamespace[n]), bytes(page.sizeByNamespace[n] ?? 0)]),
        "namespaces",
      ),
      table("Most read", head, page.mostAccessed.map(entryRow), "most-accessed"),
      h("form", { class: "filters", onsubmit: (e: Event) => e.preventDefault() }, field("Namespace", namespace)),
      table(`Entries ${filters.offset + 1}–${filters.offset + page.items.length} of ${page.total}`, head, page.items.map(entryRow), "memories"),
      h("div", { class: "pager" }, previous, next),
    );
  };
  await draw();
}
