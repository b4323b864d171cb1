// Browser tests of the dashboard: Debian's Chromium driven by playwright-core against a real
// `annal serve` over a store filled by `annal demo`. Each view must show what the API answers;
// the live tail must show an appended event within 1 s and lose nothing across pause/resume;
// time travel must hide an agent not yet spawned; a wrong token must be refused clearly; no
// console errors. Screenshots of every view go to ANNAL_SCREENSHOTS (docs/screenshots when
// refreshing the committed ones).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const annal = process.env.ANNAL_BIN ?? resolve("../target/debug/annal");
const shots = resolve(process.env.ANNAL_SCREENSHOTS ?? "../target/dashboard-screenshots");
const dir = mkdtempSync(join(tmpdir(), "annal-dashboard-"));
const store = join(dir, "demo.db");
let server;
let base;
let readToken;
let adminToken;
let browser;
let context;
let page;
const consoleErrors = [];

function cli(...args) {
  return execFileSync(annal, ["--store", store, "--json", ...args], { encoding: "utf8" });
}

async function api(path, token = readToken, init = {}) {
  const response = await fetch(base + path, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(init.headers ?? {}) },
  });
  assert.ok(response.ok, `${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

async function append(stream, type, payload = {}) {
  const answer = await api(`/v1/streams/${stream}/events`, adminToken, {
    method: "POST",
    body: JSON.stringify({ events: [{ type, payload }] }),
  });
  return answer.events[0].position;
}

async function shot(name, target = page, fullPage = false) {
  await target.screenshot({ path: join(shots, `${name}.png`), fullPage });
}

async function open(hash) {
  await page.goto(`${base}/#/${hash}`);
  await page.locator("#view-title").waitFor();
}

const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });

before(async () => {
  mkdirSync(shots, { recursive: true });
  cli("demo", "--agents", "8", "--tasks", "80");
  readToken = JSON.parse(cli("token", "create", "--scope", "read", "--name", "dashboard")).secret;
  adminToken = JSON.parse(cli("token", "create", "--scope", "admin", "--name", "test")).secret;
  server = spawn(annal, ["--store", store, "--json", "serve", "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: server.stdout });
  const first = await Promise.race([
    (async () => {
      for await (const line of lines) return line;
      return null;
    })(),
    // Unref'd: a pending timer would keep the test process alive for its full 30 s.
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error("annal serve did not start")), 30000).unref(),
    ),
  ]);
  base = JSON.parse(first).listening;
  browser = await launch();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
  page = await context.newPage();
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.goto(base + "/");
  await page.locator("#token").fill(readToken);
  await page.getByRole("button", { name: "Open the dashboard" }).click();
  await page.getByTestId("total-events").waitFor();
  // From here on every console error counts; before, Chromium logs the 401 of the page's
  // question "does this server need a token?", which is the answer it expects.
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
});

after(async () => {
  await browser?.close();
  if (server) {
    const exited = new Promise((done) => server.once("exit", done));
    server.kill("SIGTERM");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

test("a wrong token is refused with a clear message", async () => {
  const other = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const tab = await other.newPage();
  await tab.goto(base + "/");
  await tab.locator("#token").waitFor();
  await tab.locator("#token").fill("annal_not-a-real-token");
  await tab.getByRole("button", { name: "Open the dashboard" }).click();
  const message = tab.getByTestId("token-error");
  await message.waitFor();
  assert.match(await message.innerText(), /refused this token: the token is unknown or revoked/);
  await shot("token", tab);
  await other.close();
});

test("overview shows the API's totals, head and counts", async () => {
  await open("overview");
  const stats = await api("/v1/stats");
  const { head } = await api("/v1/head");
  const n = (value) => value.toLocaleString("en-US");
  assert.equal(await page.getByTestId("total-events").innerText(), n(stats.totalEvents));
  assert.equal(await page.getByTestId("stream-count").innerText(), n(stats.streamCount));
  assert.equal(await page.getByTestId("head").innerText(), n(head));
  const failedRow = page.getByTestId("by-type").locator("tr", { hasText: "task:failed" });
  assert.match(await failedRow.innerText(), new RegExp(`task:failed\\s+${stats.eventsByType["task:failed"]}`));
  const projections = await page.getByTestId("projections").innerText();
  for (const p of (await api("/v1/status")).projections) {
    const shown = p.checkpoint === null ? "not loaded yet\t–" : `${n(p.checkpoint)}\t${n(p.lag)}`;
    assert.ok(projections.includes(`${p.name}\t${shown}`), `${p.name} in ${projections}`);
  }
  const counted = Number(await page.getByTestId("rate-minute").innerText());
  for (let n = 0; n < 3; n += 1) await append("dash-rate-1", "dash:counted", { n });
  await page.waitForFunction(
    (least) => Number(document.querySelector("[data-testid=rate-minute]")?.textContent) >= least,
    counted + 3,
    { timeout: 3000 },
  );
  await shot("overview");
});

test("the live tail shows an appended event within 1 s, and pause/resume loses nothing", async (t) => {
  await open("tail");
  await page.getByTestId("tail-state").filter({ hasText: "Following" }).waitFor();
  await page.waitForTimeout(300); // the subscription is open once the server answered it
  const position = await append("dash-live-1", "dash:pinged", { n: 0 });
  const started = Date.now();
  await page.locator(`tr[data-position="${position}"]`).waitFor({ timeout: 1000 });
  const waited = Date.now() - started;
  assert.ok(waited <= 1000, `shown after ${waited} ms`);
  t.diagnostic(`appended event shown ${waited} ms after its append answered`);

  await page.getByTestId("pause").click();
  await page.getByTestId("tail-state").filter({ hasText: "Paused" }).waitFor();
  const appended = [];
  for (let n = 1; n <= 5; n += 1) appended.push(await append("dash-live-1", "dash:pinged", { n }));
  await page.waitForTimeout(300);
  for (const p of appended) assert.equal(await page.locator(`tr[data-position="${p}"]`).count(), 0);
  await page.getByTestId("pause").click();
  for (const p of appended) await page.locator(`tr[data-position="${p}"]`).waitFor({ timeout: 2000 });
  const shown = await page.locator("[data-testid=tail-rows] tr").evaluateAll((rows) => rows.map((r) => Number(r.dataset.position)));
  const expected = [position, ...appended];
  assert.deepEqual(shown.filter((p) => expected.includes(p)).sort((a, b) => a - b), expected, "each once, none lost");
  await shot("tail");

  // Filters: the stream prefix on the server, the agent here.
  await page.locator("#tail-prefix").fill("dash-only-");
  await page.locator("#tail-agent").fill("agent-x");
  await page.locator("#tail-agent").press("Tab");
  const other = await append("dash-other-1", "dash:pinged", { agentId: "agent-x" });
  const wrongAgent = await append("dash-only-1", "dash:pinged", { agentId: "agent-y" });
  const wanted = await append("dash-only-1", "dash:pinged", { agentId: "agent-x" });
  await page.locator(`tr[data-position="${wanted}"]`).waitFor({ timeout: 2000 });
  for (const hidden of [other, wrongAgent]) {
    assert.equal(await page.locator(`tr[data-position="${hidden}"]`).count(), 0, `${hidden} is filtered out`);
  }
});

test("swarm shows the agents the API folds, and time travel hides an agent not yet spawned", async () => {
  await open("swarm");
  const now = await api("/v1/projections/as-of?limit=40");
  const rows = page.getByTestId("agents").locator("tbody tr");
  assert.equal(await rows.count(), now.agents.length);
  const first = now.agents[0];
  assert.match(await rows.filter({ hasText: first.id }).innerText(), new RegExp(`${first.status}\\s+${first.health}`));
  await shot("swarm", page, true);

  // Following the head, a newly spawned agent appears without a reload.
  const payload = { agentId: "agent-late-1", role: "reviewer", domain: "docs", capabilities: [] };
  await append("agent-late-1", "agent:spawned", payload);
  await rows.filter({ hasText: "agent-late-1" }).waitFor({ timeout: 8000 });

  const spawned = await api("/v1/events?types=agent:spawned&limit=2");
  const before = spawned[1].position - 1;
  await page.$eval(
    "#as-of",
    (slider, value) => {
      slider.value = String(value);
      slider.dispatchEvent(new Event("change"));
    },
    before,
  );
  await page.getByTestId("as-of-label").filter({ hasText: `as of position ${before}` }).waitFor();
  const earlier = await api(`/v1/projections/as-of?limit=40&position=${before}`);
  assert.equal(await rows.count(), earlier.agents.length);
  assert.equal(await rows.filter({ hasText: spawned[1].aggregateId }).count(), 0, "not spawned yet");
  assert.equal(await rows.filter({ hasText: spawned[0].aggregateId }).count(), 1);
  await shot("time-travel-early");
  const middle = Math.floor(now.head / 2);
  await page.$eval(
    "#as-of",
    (slider, value) => {
      slider.value = String(value);
      slider.dispatchEvent(new Event("change"));
    },
    middle,
  );
  await page.getByTestId("as-of-label").filter({ hasText: `as of position ${middle}` }).waitFor();
  const halfway = await api(`/v1/projections/as-of?limit=40&position=${middle}`);
  assert.match(await page.getByTestId("agent-count").innerText(), new RegExp(`active: ${halfway.activeCount}$`));
  await shot("time-travel", page, true);
  await page.getByRole("button", { name: "Back to live" }).click();
  await page.getByTestId("as-of-label").filter({ hasText: "live" }).waitFor();
});

test("tasks filter by status, and a failed task's page shows its error, history and trace", async () => {
  await open("tasks");
  await page.locator("#task-status").selectOption("failed");
  await page.getByTestId("task-summary").filter({ hasText: /^\d+ matching/ }).waitFor();
  const failed = await api("/v1/projections/as-of?taskStatus=failed&limit=50");
  await page.locator("[data-testid=tasks] caption", { hasText: `of ${failed.tasks.total}` }).waitFor();
  const rows = page.getByTestId("tasks").locator("tbody tr");
  assert.equal(await rows.count(), failed.tasks.items.length);
  const task = failed.tasks.items[0];
  assert.match(await rows.filter({ hasText: task.id }).first().innerText(), new RegExp(task.error));
  await shot("tasks");
  await page.getByRole("link", { name: task.id, exact: true }).click();
  const facts = page.getByTestId("task-facts");
  await facts.waitFor();
  assert.match(await facts.innerText(), /status\s+failed/);
  assert.match(await facts.innerText(), new RegExp(`error\\s+${task.error}`));
  const history = await api(`/v1/streams/${task.id}/events`);
  assert.equal(await page.getByTestId("task-history").locator("tbody tr").count(), history.length);
  await page.getByTestId("correlated").waitFor();
  await shot("task");
});

test("memory shows namespaces, entries and the most-read keys", async () => {
  await open("memory");
  const state = await api("/v1/projections/as-of?limit=50&top=10");
  for (const [namespace, count] of Object.entries(state.memory.countByNamespace)) {
    const row = page.getByTestId("namespaces").locator("tr", { hasText: namespace });
    assert.match(await row.innerText(), new RegExp(`${namespace}\\s+${count}`));
  }
  const top = state.memory.mostAccessed[0];
  const firstTop = page.getByTestId("most-accessed").locator("tbody tr").first();
  assert.match(await firstTop.innerText(), new RegExp(`${top.namespace}\\s+${top.key}\\s+${top.id}`));
  const entry = state.memory.items[0];
  assert.match(await page.getByTestId("memories").innerText(), new RegExp(`${entry.key}\\s+${entry.id}`));
  await shot("memory");
});

test("streams search by prefix, page through events and open one", async () => {
  await open("streams");
  await page.locator("#stream-prefix").fill("task-");
  await page.getByRole("button", { name: "Search" }).click();
  const list = await api("/v1/streams?prefix=task-&limit=50");
  const items = page.getByTestId("streams").locator("li");
  await items.first().filter({ hasText: list.streams[0].stream }).waitFor();
  assert.equal(await items.count(), list.streams.length);
  await shot("streams");
  await page.getByRole("link", { name: list.streams[0].stream, exact: true }).click();
  await page.getByTestId("stream-version").filter({ hasText: `version ${list.streams[0].version}` }).waitFor();
  assert.equal(await page.getByTestId("event").count(), list.streams[0].events);
  await shot("stream");
  await page.getByTestId("event").first().getByRole("link", { name: /its causes/ }).click();
  await page.getByTestId("correlated").waitFor();
  await shot("event");
});

test("the run ledger shows a recorded run and the metrics", async () => {
  const run = {
    eventId: "run-dash-1",
    taskId: "dash-task-1",
    guidanceHash: "abc",
    retrievedRuleIds: ["r1"],
    toolsUsed: ["cargo"],
    filesTouched: ["src/lib.rs"],
    diffSummary: { linesAdded: 10, linesRemoved: 2, filesChanged: 1 },
    testResults: { ran: true, passed: 12, failed: 1, skipped: 0 },
    violations: [{ ruleId: "r1", description: "unwrap in library", severity: "medium", autoCorrected: false }],
    outcomeAccepted: true,
    reworkLines: 4,
    intent: "feature",
    timestamp: Date.now(),
    durationMs: 1500,
  };
  await api("/v1/runs", adminToken, { method: "POST", body: JSON.stringify(run) });
  await open("runs");
  const metrics = await api("/v1/runs/metrics");
  assert.match(await page.getByTestId("runs").innerText(), /dash-task-1.*12 passed, 1 failed/s);
  assert.match(await page.getByTestId("run-metrics").innerText(), new RegExp(`taskCount\\s+${metrics.taskCount}`));
  assert.match(await page.getByTestId("violations").innerText(), /r1\s+1/);
  await shot("runs");
});

test("a phone-sized dark page fits its width and every control is reachable by keyboard", async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark", isMobile: true });
  const tab = await phone.newPage();
  const errors = [];
  await tab.goto(base + "/");
  await tab.locator("#token").fill(readToken);
  await tab.keyboard.press("Enter");
  await tab.getByTestId("total-events").waitFor();
  tab.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  tab.on("pageerror", (error) => errors.push(String(error)));
  const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone`);
  await shot("overview-phone-dark", tab);
  await tab.goto(base + "/#/swarm");
  await tab.getByTestId("agents").waitFor();
  await shot("swarm-phone-dark", tab);
  assert.deepEqual(errors, []);
  await phone.close();

  await open("tasks");
  await page.reload(); // focus starts at the top of the document
  await page.locator("#task-status").waitFor();
  const reached = new Set();
  for (let i = 0; i < 25; i += 1) {
    await page.keyboard.press("Tab");
    reached.add(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim()));
  }
  await page.keyboard.press("Shift+Tab");
  await page.reload();
  await page.locator("#task-status").waitFor();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
  assert.match(page.url(), /#\/tasks$/, "skipping to the content keeps the view");
  for (const name of ["Overview", "Live tail", "Swarm", "Tasks", "Memory", "Streams", "Runs", "as-of", "task-status", "task-priority", "task-agent"]) {
    assert.ok(reached.has(name), `${name} is not reachable with Tab (reached ${[...reached].join(", ")})`);
  }
});

test("an empty store without tokens opens every view at once, without errors", async () => {
  const empty = join(dir, "empty.db");
  execFileSync(annal, ["--store", empty, "init"]);
  const open = spawn(annal, ["--store", empty, "--json", "serve", "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const lines = createInterface({ input: open.stdout });
    let url = null;
    for await (const line of lines) {
      url = JSON.parse(line).listening;
      break;
    }
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const tab = await fresh.newPage();
    const errors = [];
    tab.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    tab.on("pageerror", (error) => errors.push(String(error)));
    await tab.goto(`${url}/`);
    await tab.getByTestId("total-events").filter({ hasText: "0" }).waitFor();
    const titles = { tail: "Live tail", swarm: "Swarm", tasks: "Tasks", memory: "Memory", streams: "Streams", runs: "Run ledger" };
    for (const [view, title] of Object.entries(titles)) {
      await tab.goto(`${url}/#/${view}`);
      await tab.locator("#view-title", { hasText: title }).waitFor();
      assert.equal(await tab.locator(".error").count(), 0, `${view} shows an error`);
    }
    assert.equal(await tab.locator("#token").count(), 0, "no token asked for");
    assert.deepEqual(errors, []);
    await fresh.close();
  } finally {
    const exited = new Promise((done) => open.once("exit", done));
    open.kill("SIGTERM");
    await exited;
  }
});

test("no console errors on any view", () => {
  assert.deepEqual(consoleErrors, []);
});
