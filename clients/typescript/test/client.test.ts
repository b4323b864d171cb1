/**
 * `AnnalClient` against a real server: appends, expected versions, retries,
 * paged reads, every query filter, snapshots, stats, retention, projections,
 * the run ledger and cancellation, on good and bad input.
 */

import { describe, expect, inject, it } from "vitest";

import {
  AnnalClient,
  ConnectionError,
  DuplicateEventIdError,
  InvalidRequestError,
  NotFoundError,
  ProtectedBySnapshotError,
  SnapshotAheadOfStreamError,
  SnapshotStaleError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  type EventInput,
} from "../src/index.js";
import { all, privateServer, unique } from "./annal.js";

const shared = inject("annal");
const client = new AnnalClient({ url: shared.url, token: shared.adminToken });

const made = (type: string, payload: Record<string, unknown> = {}, extra: Partial<EventInput> = {}): EventInput => ({
  type,
  payload,
  ...extra,
});

describe("append", () => {
  it("answers each event's position and version, with ids chosen by the client", async () => {
    const stream = unique("agent");
    const result = await client.append(stream, [made("agent:spawned", { n: 1 }), made("agent:started", { n: 2 })]);
    expect(result.stream).toBe(stream);
    expect(result.streamVersion).toBe(2);
    expect(result.events.map((e) => e.version)).toEqual([1, 2]);
    expect(result.lastPosition - result.firstPosition).toBe(1);
    expect(result.events[0]?.position).toBe(result.firstPosition);
    for (const event of result.events) expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    const stored = await all(client.readStream(stream));
    expect(stored.map((e) => e.id)).toEqual(result.events.map((e) => e.id));
    expect(stored[0]?.payload).toEqual({ n: 1 });
  });

  it("keeps every field of the event", async () => {
    const stream = unique("task");
    const event = made("task:created", { title: "t" }, {
      id: unique("id"),
      aggregateType: "task",
      timestamp: 1_700_000_000_123,
      source: "agent-9",
      metadata: { trace: "x" },
      causationId: "cause-1",
      correlationId: "corr-1",
    });
    await client.append(stream, event);
    const [stored] = await all(client.readStream(stream));
    expect(stored).toMatchObject({
      id: event.id,
      type: "task:created",
      aggregateId: stream,
      aggregateType: "task",
      version: 1,
      timestamp: 1_700_000_000_123,
      source: "agent-9",
      payload: { title: "t" },
      metadata: { trace: "x" },
      causationId: "cause-1",
      correlationId: "corr-1",
    });
  });

  it("checks the expected version and reports the actual one", async () => {
    const stream = unique("agent");
    await client.append(stream, made("agent:spawned"), { expectedVersion: "noStream" });
    await client.append(stream, made("agent:started"), { expectedVersion: 1 });
    await client.append(stream, made("agent:stopped"), { expectedVersion: "streamExists" });
    const refused = await client.append(stream, made("agent:failed"), { expectedVersion: 1 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WrongExpectedVersionError);
    expect((refused as WrongExpectedVersionError).actualVersion).toBe(3);
    expect((refused as WrongExpectedVersionError).status).toBe(409);
    expect((refused as WrongExpectedVersionError).code).toBe("wrong-expected-version");
    const again = await client.append(stream, made("agent:spawned"), { expectedVersion: "noStream" }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(WrongExpectedVersionError);
    const missing = await client.append(unique("none"), made("agent:spawned"), { expectedVersion: "streamExists" }).catch((e: unknown) => e);
    expect((missing as WrongExpectedVersionError).actualVersion).toBe(0);
    expect(await client.streamVersion(stream)).toBe(3);
  });

  it("answers a repeated batch with the original result and stores it once", async () => {
    const stream = unique("agent");
    const batch = [made("agent:spawned", {}, { id: unique("a") }), made("agent:started", {}, { id: unique("b") })];
    const first = await client.append(stream, batch, { expectedVersion: "noStream" });
    const second = await client.append(stream, batch, { expectedVersion: "noStream" });
    expect(second).toEqual(first);
    expect(await client.streamVersion(stream)).toBe(2);
  });

  it("retries on a connection error without storing the batch twice", async () => {
    const stream = unique("agent");
    let calls = 0;
    // The first attempt reaches the server, but its answer is "lost" on the way back.
    const flaky: typeof fetch = async (input, init) => {
      calls += 1;
      const response = await fetch(input, init);
      if (calls === 1) throw new TypeError("fetch failed: connection reset");
      return response;
    };
    const retrying = new AnnalClient({ url: shared.url, token: shared.adminToken, fetch: flaky, retryDelayMs: 1 });
    const result = await retrying.append(stream, [made("agent:spawned"), made("agent:started")]);
    expect(calls).toBe(2);
    expect(result.streamVersion).toBe(2);
    expect(await all(client.readStream(stream))).toHaveLength(2);
  });

  it("gives up with ConnectionError when the server cannot be reached", async () => {
    const nowhere = new AnnalClient({ url: "http://127.0.0.1:9", retries: 2, retryDelayMs: 1 });
    await expect(nowhere.append(unique("s"), made("agent:spawned"))).rejects.toBeInstanceOf(ConnectionError);
    await expect(nowhere.head()).rejects.toBeInstanceOf(ConnectionError);
  });

  it("refuses bad input with a typed error naming it, storing nothing", async () => {
    const stream = unique("agent");
    await expect(client.append(stream, [])).rejects.toThrow(/empty/);
    const notObject = await client
      .append(stream, { type: "agent:spawned", payload: [1, 2] as unknown as Record<string, unknown> })
      .catch((e: unknown) => e);
    expect(notObject).toBeInstanceOf(InvalidRequestError);
    expect((notObject as InvalidRequestError).field).toMatch(/payload/);
    const badStream = await client.append("bad\u0001stream", made("agent:spawned")).catch((e: unknown) => e);
    expect(badStream).toBeInstanceOf(InvalidRequestError);
    expect((badStream as InvalidRequestError).field).toBe("stream");
    await expect(client.append("", made("agent:spawned"))).rejects.toThrow(TypeError);
    expect(await client.streamVersion(stream)).toBe(0);
  });

  it("refuses an id already stored in another stream", async () => {
    const id = unique("dup");
    await client.append(unique("a"), made("agent:spawned", {}, { id }));
    const refused = await client.append(unique("b"), made("agent:spawned", {}, { id })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DuplicateEventIdError);
    expect((refused as DuplicateEventIdError).eventId).toBe(id);
  });

  it("takes 64 concurrent appends from one client, each at its own position", async () => {
    const prefix = unique("conc");
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => client.append(`${prefix}-${i % 8}`, made("agent:spawned", { i }))),
    );
    const positions = results.map((r) => r.firstPosition);
    expect(new Set(positions).size).toBe(64);
    const stored = await all(client.query({ streamPrefix: prefix }));
    expect(stored).toHaveLength(64);
    for (let s = 0; s < 8; s++) {
      const versions = (await all(client.readStream(`${prefix}-${s}`))).map((e) => e.version);
      expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    }
  });
});

describe("readStream", () => {
  it("pages forward and backward, from a version, up to a limit", async () => {
    const stream = unique("agent");
    await client.append(stream, Array.from({ length: 7 }, (_, i) => made("agent:started", { i })));
    const versions = async (options: Parameters<AnnalClient["readStream"]>[1]) =>
      (await all(client.readStream(stream, { pageSize: 2, ...options }))).map((e) => e.version);
    expect(await versions({})).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await versions({ from: 3 })).toEqual([3, 4, 5, 6, 7]);
    expect(await versions({ from: 3, limit: 3 })).toEqual([3, 4, 5]);
    expect(await versions({ direction: "backward" })).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(await versions({ direction: "backward", from: 4 })).toEqual([4, 3, 2, 1]);
    expect(await versions({ direction: "backward", limit: 3 })).toEqual([7, 6, 5]);
  });

  it("throws StreamNotFoundError for a stream that never held an event, unless told not to", async () => {
    await expect(all(client.readStream(unique("none")))).rejects.toBeInstanceOf(StreamNotFoundError);
    expect(await all(client.readStream(unique("none"), { allowMissing: true }))).toEqual([]);
    expect(await client.streamVersion(unique("none"))).toBe(0);
  });

  it("refuses a bad page size", async () => {
    await expect(all(client.readStream("x", { pageSize: 0 }))).rejects.toThrow(/pageSize/);
  });
});

describe("readAll and query", () => {
  it("reads the log from a position, in position order, across pages", async () => {
    const from = (await client.head()) + 1;
    const prefix = unique("all");
    await client.append(`${prefix}-a`, [made("agent:spawned"), made("agent:started")]);
    await client.append(`${prefix}-b`, [made("task:created"), made("task:started"), made("task:completed")]);
    const events = (await all(client.readAll({ from, pageSize: 2 }))).filter((e) => e.aggregateId.startsWith(prefix));
    expect(events.map((e) => e.type)).toEqual(["agent:spawned", "agent:started", "task:created", "task:started", "task:completed"]);
    const positions = events.map((e) => e.position);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    const limited = await all(client.readAll({ from, limit: 3, pageSize: 2 }));
    expect(limited).toHaveLength(3);
    expect(limited[0]?.position).toBeGreaterThanOrEqual(from);
  });

  it("applies every filter field", async () => {
    const prefix = unique("q");
    const a = `${prefix}-agent`;
    const t = `${prefix}-task`;
    await client.append(a, [
      made("agent:spawned", {}, { source: `${prefix}-src`, timestamp: 1000, correlationId: `${prefix}-c1` }),
      made("agent:started", {}, { timestamp: 2000, causationId: `${prefix}-cause` }),
    ]);
    await client.append(t, [
      made("task:created", {}, { timestamp: 3000, correlationId: `${prefix}-c1` }),
      made("task:started", {}, { timestamp: 4000 }),
    ]);
    const ids = async (filter: Parameters<AnnalClient["query"]>[0]) =>
      (await all(client.query({ streamPrefix: prefix, pageSize: 1, ...filter }))).map((e) => `${e.type}@${e.timestamp}`);
    expect(await ids({})).toEqual(["agent:spawned@1000", "agent:started@2000", "task:created@3000", "task:started@4000"]);
    expect(await ids({ types: ["agent:started", "task:started"] })).toEqual(["agent:started@2000", "task:started@4000"]);
    expect(await ids({ aggregateTypes: ["task"] })).toEqual(["task:created@3000", "task:started@4000"]);
    expect(await ids({ streams: [a] })).toEqual(["agent:spawned@1000", "agent:started@2000"]);
    expect(await all(client.query({ streams: [t], types: ["task:started"] }))).toHaveLength(1);
    expect(await ids({ source: `${prefix}-src` })).toEqual(["agent:spawned@1000"]);
    expect(await ids({ correlationId: `${prefix}-c1` })).toEqual(["agent:spawned@1000", "task:created@3000"]);
    expect(await ids({ causationId: `${prefix}-cause` })).toEqual(["agent:started@2000"]);
    expect(await ids({ since: 2000, until: 4000 })).toEqual(["agent:started@2000", "task:created@3000"]);
    expect(await ids({ offset: 1, limit: 2 })).toEqual(["agent:started@2000", "task:created@3000"]);
    expect(await ids({ direction: "backward", limit: 3 })).toEqual(["task:started@4000", "task:created@3000", "agent:started@2000"]);
  });

  it("pages an unnarrowed query with offset and limit", async () => {
    const prefix = unique("page");
    const stream = `${prefix}-s`;
    await client.append(stream, Array.from({ length: 5 }, (_, i) => made("memory:stored", { i })));
    const page = await all(client.query({ streams: [stream], offset: 1, limit: 3, pageSize: 2 }));
    expect(page.map((e) => e.version)).toEqual([2, 3, 4]);
  });

  it("refuses a bad filter with a typed error naming the parameter", async () => {
    const badType = await all(client.query({ types: ["bad\u0001type"] })).catch((e: unknown) => e);
    expect(badType).toBeInstanceOf(InvalidRequestError);
    expect((badType as InvalidRequestError).parameter).toBe("types");
    await expect(all(client.query({ types: ["a,b"] }))).rejects.toThrow(/comma/);
    await expect(all(client.query({ direction: "backward", from: 3 }))).rejects.toThrow(/forward/);
    const badRange = await all(client.query({ since: 10, until: 5 })).catch((e: unknown) => e);
    expect(badRange).toBeInstanceOf(InvalidRequestError);
  });
});

describe("snapshots", () => {
  it("saves, reads the newest, refuses stale or ahead, and answers null when none", async () => {
    const stream = unique("agent");
    expect(await client.getSnapshot(stream)).toBeNull();
    await client.append(stream, Array.from({ length: 10 }, () => made("agent:started")));
    const saved = await client.saveSnapshot(stream, { version: 5, state: { at: 5 } });
    expect(saved).toMatchObject({ aggregateId: stream, aggregateType: "agent", version: 5, state: { at: 5 } });
    await client.saveSnapshot(stream, { version: 10, state: { at: 10 }, aggregateType: "agent" });
    expect((await client.getSnapshot(stream))?.state).toEqual({ at: 10 });
    const stale = await client.saveSnapshot(stream, { version: 5, state: {} }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(SnapshotStaleError);
    expect((stale as SnapshotStaleError).storedVersion).toBe(10);
    const ahead = await client.saveSnapshot(stream, { version: 11, state: {} }).catch((e: unknown) => e);
    expect(ahead).toBeInstanceOf(SnapshotAheadOfStreamError);
    expect((ahead as SnapshotAheadOfStreamError).actualVersion).toBe(10);
    const notObject = await client
      .saveSnapshot(stream, { version: 10, state: 3 as unknown as Record<string, unknown> })
      .catch((e: unknown) => e);
    expect(notObject).toBeInstanceOf(InvalidRequestError);
    expect((await client.getSnapshot(stream))?.version).toBe(10);
  });
});

describe("store-wide reads", () => {
  it("answers head, stats and verify", async () => {
    const stream = unique("stats");
    const result = await client.append(stream, [made("swarm:initialized"), made("swarm:scaled")]);
    expect(await client.head()).toBeGreaterThanOrEqual(result.lastPosition);
    const stats = await client.stats({ top: 1000 });
    expect(stats.totalEvents).toBeGreaterThanOrEqual(2);
    expect(stats.eventsByType["swarm:scaled"]).toBeGreaterThanOrEqual(1);
    expect(stats.topStreams.find((s) => s.stream === stream)?.events).toBe(2);
    await expect(client.stats({ top: 1001 })).rejects.toBeInstanceOf(InvalidRequestError);
    const report = await client.verify();
    expect(report.problems).toBe(0);
    expect(report.events).toBeGreaterThanOrEqual(2);
    expect(await client.ready()).toBe(true);
    expect(await new AnnalClient({ url: "http://127.0.0.1:9", retries: 0 }).ready()).toBe(false);
  });

  it("answers NotFoundError for a path the server does not have", async () => {
    const odd = new AnnalClient({ url: `${shared.url}/nothing-here`, token: shared.adminToken });
    await expect(odd.head()).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("retention", () => {
  it("deletes and truncates streams, with expected versions and snapshot protection", async () => {
    const stream = unique("ret");
    await client.append(stream, Array.from({ length: 6 }, () => made("task:queued")));
    await client.saveSnapshot(stream, { version: 3, state: {} });
    await expect(client.truncateStream(stream, 5)).rejects.toBeInstanceOf(ProtectedBySnapshotError);
    expect(await client.truncateStream(stream, 3)).toEqual({ removed: 2, protected: 0 });
    expect((await all(client.readStream(stream))).map((e) => e.version)).toEqual([3, 4, 5, 6]);
    expect((await client.truncateStream(stream, 5, { force: true })).removed).toBe(2);
    await expect(client.deleteStream(stream, { expectedVersion: 2 })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect((await client.deleteStream(stream, { expectedVersion: 6 })).removed).toBe(2);
    expect(await all(client.readStream(stream))).toEqual([]);
    expect(await client.streamVersion(stream)).toBe(6);
    expect(await client.getSnapshot(stream)).toBeNull();
  });
});

describe("store-wide retention", () => {
  it("keeps the newest events a policy allows, and refuses a bad policy", async () => {
    const { server, stop } = await privateServer(shared.bin);
    try {
      const own = new AnnalClient({ url: server.url });
      await own.append("keep-a", Array.from({ length: 6 }, () => made("agent:started")));
      await own.append("keep-b", Array.from({ length: 4 }, () => made("task:queued")));
      expect(await own.applyRetention({ maxEvents: 4 })).toEqual({ removed: 6, protected: 0 });
      const left = await all(own.readAll());
      expect(left.map((e) => `${e.aggregateId}@${e.version}`)).toEqual(["keep-b@1", "keep-b@2", "keep-b@3", "keep-b@4"]);
      const bad = await own.applyRetention({ maxEvents: -1 }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(InvalidRequestError);
      expect(await all(own.readAll())).toHaveLength(4);
    } finally {
      await stop();
    }
  });
});

describe("projections", () => {
  it("answers agents, tasks and memory, narrowed", async () => {
    const agent = unique("agent");
    const task = unique("task");
    const memory = unique("mem");
    await client.append(agent, [
      made("agent:spawned", { agentId: agent, role: "coder", domain: "core", capabilities: ["x"] }, { aggregateType: "agent" }),
      made("agent:started", { agentId: agent, startedAt: 1 }, { aggregateType: "agent" }),
    ]);
    await client.append(task, [
      made("task:created", { taskId: task, taskType: "impl", title: "T", description: "d", priority: "high", dependencies: [], createdAt: 1 }),
      made("task:started", { taskId: task, agentId: agent, startedAt: 2 }),
      made("task:completed", { taskId: task, result: { ok: true }, completedAt: 3, duration: 4000 }),
    ]);
    await client.append(memory, [
      made("memory:stored", { memoryId: memory, namespace: memory, key: "k", memoryType: "semantic", size: 1024, storedAt: 1 }),
    ]);
    const agents = await client.agents({ status: "active", domain: "core" });
    expect(agents.agents.find((a) => a.id === agent)).toMatchObject({ role: "coder", status: "active" });
    expect(agents.activeCount).toBeGreaterThanOrEqual(1);
    expect(agents.checkpoint).toBeGreaterThan(0);
    const tasks = await client.tasks({ agent, status: "completed" });
    expect(tasks.tasks.map((t) => t.id)).toEqual([task]);
    expect(tasks.tasks[0]?.durationMs).toBe(4000);
    const memories = await client.memory({ namespace: memory });
    expect(memories.memories.map((m) => m.id)).toEqual([memory]);
    expect(memories.sizeByNamespace[memory]).toBe(1024);
    expect((await client.memory({ top: 1 })).memories.length).toBeLessThanOrEqual(1);
    await expect(client.agents({ status: "sleepy" as "idle" })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(client.tasks({ status: "sleepy" as "queued" })).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe("run ledger", () => {
  it("records runs and answers lists, metrics and violation ranking", async () => {
    const taskId = unique("run");
    const run = {
      eventId: unique("e"),
      taskId,
      guidanceHash: "h",
      retrievedRuleIds: [],
      toolsUsed: ["Read"],
      filesTouched: [],
      diffSummary: { linesAdded: 10, linesRemoved: 0, filesChanged: 1 },
      testResults: { ran: true, passed: 3, failed: 0, skipped: 0 },
      violations: [{ ruleId: `${taskId}-R1`, description: "d", severity: "high" as const, autoCorrected: true }],
      outcomeAccepted: true,
      reworkLines: 5,
      intent: "feature" as const,
      timestamp: Date.now(),
      durationMs: 12,
    };
    const recorded = await client.recordRun(run);
    expect(recorded).toMatchObject({ taskId, reworkLines: 5 });
    expect((await client.listRuns({ task: taskId })).map((r) => r.taskId)).toEqual([taskId]);
    expect((await client.listRuns({ since: run.timestamp, until: run.timestamp })).some((r) => r.taskId === taskId)).toBe(true);
    expect((await client.listRuns({ recent: 5 })).length).toBeGreaterThanOrEqual(1);
    const metrics = await client.runMetrics();
    expect(metrics.taskCount).toBeGreaterThanOrEqual(1);
    const ranking = await client.runViolations();
    expect(ranking.find((r) => r.ruleId === `${taskId}-R1`)?.frequency).toBe(1);
    await expect(client.listRuns({ task: taskId, recent: 3 })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(client.recordRun({ ...run, eventId: unique("e"), intent: "sleeping" as "feature" })).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe("run ledger bounds", () => {
  it("refuses a time range holding more than 10,000 runs, and answers one at the bound", async () => {
    const { server, stop } = await privateServer(shared.bin);
    try {
      const own = new AnnalClient({ url: server.url });
      const run = (n: number, timestamp: number): EventInput => ({
        type: "run:recorded",
        aggregateType: "run",
        timestamp,
        payload: {
          eventId: `bulk-${n}`, taskId: "bulk", guidanceHash: "h", retrievedRuleIds: [], toolsUsed: [], filesTouched: [],
          diffSummary: { linesAdded: 0, linesRemoved: 0, filesChanged: 0 },
          testResults: { ran: false, passed: 0, failed: 0, skipped: 0 },
          violations: [], outcomeAccepted: null, reworkLines: 0, intent: "general", timestamp, durationMs: 1,
        },
      });
      for (let batch = 0; batch < 10; batch += 1) {
        await own.append("run-bulk", Array.from({ length: 1000 }, (_, i) => run(batch * 1000 + i, 1_000)));
      }
      await own.append("run-bulk", run(10_000, 2_000));
      expect(await own.listRuns({ since: 0, until: 1_000 })).toHaveLength(10_000);
      const refused = await own.listRuns({ since: 0, until: 2_000 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(InvalidRequestError);
      expect(refused).toMatchObject({ status: 400, parameter: "since" });
      expect(await own.listRuns({ since: 1_500 })).toHaveLength(1);
    } finally {
      await stop();
    }
  });
});

describe("cancellation", () => {
  it("stops a call and an iterator when the signal aborts", async () => {
    const stream = unique("cancel");
    await client.append(stream, Array.from({ length: 5 }, () => made("agent:started")));
    const aborted = AbortSignal.abort(new Error("stop now"));
    await expect(client.head({ signal: aborted })).rejects.toThrow("stop now");
    await expect(client.append(stream, made("agent:started"), { signal: aborted })).rejects.toThrow("stop now");
    const controller = new AbortController();
    const seen: number[] = [];
    const reading = (async () => {
      for await (const event of client.readStream(stream, { pageSize: 1, signal: controller.signal })) {
        seen.push(event.version);
        if (seen.length === 2) controller.abort(new Error("enough"));
      }
    })();
    await expect(reading).rejects.toThrow("enough");
    expect(seen).toEqual([1, 2]);
    const queryController = new AbortController();
    const queried: number[] = [];
    const querying = (async () => {
      for await (const event of client.query({ streams: [stream], pageSize: 1, signal: queryController.signal })) {
        queried.push(event.version);
        if (queried.length === 3) queryController.abort(new Error("done querying"));
      }
    })();
    await expect(querying).rejects.toThrow("done querying");
    expect(queried).toEqual([1, 2, 3]);
    for await (const event of client.query({ streams: [stream], pageSize: 1 })) {
      expect(event.version).toBe(1);
      break;
    }
    expect(await client.streamVersion(stream)).toBe(5);
  });
});
