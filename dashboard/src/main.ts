// The dashboard's shell: asks for a token when the server needs one, then routes `#/view/…`
// hashes to the views, each of which cleans up (closes its live connection) when left.
import "./style.css";
import { ApiFailure, get, setToken, token } from "./api.ts";
import { h } from "./dom.ts";
import { overview } from "./views/overview.ts";
import { tail } from "./views/tail.ts";
import { swarm } from "./views/swarm.ts";
import { tasks, taskPage } from "./views/tasks.ts";
import { memory } from "./views/memory.ts";
import { streams, streamPage } from "./views/streams.ts";
import { eventPage } from "./views/event.ts";
import { runs } from "./views/runs.ts";

/** A view draws into `root`; what it returns is called when the user leaves it. */
export type View = (root: HTMLElement, args: string[]) => Promise<(() => void) | void>;

const views: Record<string, { title: string; view: View; nav: boolean }> = {
  overview: { title: "Overview", view: overview, nav: true },
  tail: { title: "Live tail", view: tail, nav: true },
  swarm: { title: "Swarm", view: swarm, nav: true },
  tasks: { title: "Tasks", view: tasks, nav: true },
  task: { title: "Task", view: taskPage, nav: false },
  memory: { title: "Memory", view: memory, nav: true },
  streams: { title: "Streams", view: streams, nav: true },
  stream: { title: "Stream", view: streamPage, nav: false },
  event: { title: "Event", view: eventPage, nav: false },
  runs: { title: "Runs", view: runs, nav: true },
};

const main = h("main", { id: "main", tabindex: -1 });
const nav = h(
  "nav",
  { "aria-label": "Views" },
  h(
    "ul",
    {},
    Object.entries(views)
      .filter(([, entry]) => entry.nav)
      .map(([name, entry]) => h("li", {}, h("a", { href: `#/${name}`, "data-view": name }, entry.title))),
  ),
);
const signOut = h("button", { type: "button", class: "secondary", onclick: () => askToken("") }, "Change token");
document.getElementById("app")?.replaceChildren(
  // Focuses the content without touching the hash, which names the view.
  h(
    "a",
    {
      href: "#main",
      class: "skip",
      onclick: (event: Event) => {
        event.preventDefault();
        main.focus();
      },
    },
    "Skip to content",
  ),
  h("header", {}, h("h1", {}, h("a", { href: "#/overview" }, "annal")), nav, signOut),
  main,
);

let leave: (() => void) | void;

async function route(): Promise<void> {
  leave?.();
  leave = undefined;
  const [name = "overview", ...args] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const entry = views[name] ?? views.overview!;
  for (const anchor of nav.querySelectorAll("a")) {
    const current = anchor.dataset.view === name || (anchor.dataset.view === "tasks" && name === "task");
    if (current) anchor.setAttribute("aria-current", "page");
    else anchor.removeAttribute("aria-current");
  }
  document.title = `${entry.title} · annal`;
  main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  const root = h("section", { "aria-labelledby": "view-title" });
  try {
    leave = await entry.view(root, args);
    main.replaceChildren(root);
  } catch (error) {
    if (error instanceof ApiFailure && error.needsToken) {
      askToken(token() ? `The server refused this token: ${error.message}` : "");
    } else {
      main.replaceChildren(
        h("p", { class: "error", role: "alert" }, `Could not load this view: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
  }
}

/** Shows the token form, with `message` saying why the last token was refused. */
function askToken(message: string): void {
  leave?.();
  leave = undefined;
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true });
  const form = h(
    "form",
    { class: "token-form" },
    h("h2", { id: "view-title" }, "This server needs a token"),
    h("p", {}, "Paste a token with the read scope (", h("code", {}, "annal token create --scope read"), ")."),
    message ? h("p", { class: "error", role: "alert", "data-testid": "token-error" }, message) : null,
    h("label", { for: "token" }, "Token"),
    input,
    h("button", { type: "submit" }, "Open the dashboard"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    void route();
  });
  main.replaceChildren(form);
  input.focus();
}

window.addEventListener("hashchange", () => void route());
get("/v1/head").then(
  () => void route(),
  (error: unknown) => {
    if (error instanceof ApiFailure && error.needsToken) {
      askToken(token() ? `The server refused this token: ${error.message}` : "");
    } else {
      void route();
    }
  },
);
