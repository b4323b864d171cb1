/**
 * The drop-in `EventStore` beyond the seed's own cases: lifecycle and emitted
 * events, the private server (temporary or file store, missing binary), a
 * running server by URL with a token, bad input, every filter field, the 23
 * event factories and every projection getter.
 */

import { existsSync } from "node:fs";

import { afterEach, describe, expect, inject, it } from "vitest";

import {
  AgentStateProjection,
  AnnalBinaryNotFoundError,
  DuplicateEventIdError,
  EVENT_TYPES,
  EventStore,
  ForbiddenError,
  MemoryIndexProjection,
  SnapshotStaleError,
  TaskHistoryProjection,
  findAnnal,
  type DomainEvent,
} from "../src/seed/index.js";
import * as factories from "../src/seed/domain-events.js";
import { all, tempStore, unique } from "./annal.js";

const shared = inject("annal");
const open: EventStore[] = [];

async function started(config: ConstructorParameters<typeof EventStore>[0] = {}): Promise<EventStore> {
  const store = new EventStore(config);
  open.push(store);
  await store.initialize();
  return store;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.shutdown()));
});

describe("lifecycle", () => {
  it("emits the seed's events, in order", async () => {
    const store = new EventStore({ snapshotThreshold: 2 });
    const seen: string[] = [];
    for (const name of ["initialized", "event:appended", "snapshot:recommended", "snapshot:saved", "shutdown"]) {
      store.on(name, (arg: unknown) => seen.push(name === "snapshot:recommended" ? `${name} ${JSON.stringify(arg)}` : name));
    }
    await store.initialize();
    await store.initialize();
    const event = factories.createAgentSpawnedEvent("agent-1", "coder", "core", []);
    await store.append(event);
    await store.append(factories.createAgentStartedEvent("agent-1"));
    await store.saveSnapshot({ aggregateId: "agent-1", aggregateType: "agent", version: 2, state: {}, timestamp: 1 });
    await store.shutdown();
    await store.shutdown();
    expect(seen).toEqual([
      "initialized",
      "event:appended",
      "event:appended",
      'snapshot:recommended {"aggregateId":"agent-1","version":2}',
      "snapshot:saved",
      "shutdown",
    ]);
  });

  it("refuses every data method before initialize, naming the fix", async () => {
    const store = new EventStore();
    const message = "EventStore not initialized. Call initialize() first.";
    await expect(store.append(factories.createAgentStartedEvent("a"))).rejects.toThrow(message);
    await expect(store.getEvents("a")).rejects.toThrow(message);
    await expect(store.getEventsByType("a:b")).rejects.toThrow(message);
    await expect(store.query({})).rejects.toThrow(message);
    await expect(all(store.replay())).rejects.toThrow(message);
    await expect(store.getSnapshot("a")).rejects.toThrow(message);
    await expect(store.getStats()).rejects.toThrow(message);
    await expect(
      store.saveSnapshot({ aggregateId: "a", aggregateType: "agent", version: 1, state: {}, timestamp: 1 }),
    ).rejects.toThrow(message);
  });

  it("removes a temporary store at shutdown and stops its server", async () => {
    const store = await started();
    const location = store.storeLocation ?? "";
    const client = store.client;
    await store.append(factories.createAgentStartedEvent("a"));
    expect(existsSync(location)).toBe(true);
    await store.shutdown();
    expect(existsSync(location)).toBe(false);
    expect(await client.ready()).toBe(false);
  });

  it("keeps a file store's events across instances, and emits persisted", async () => {
    const { store: path, cleanup } = await tempStore();
    try {
      const first = await started({ databasePath: path });
      const event = factories.createTaskCreatedEvent("task-1", "impl", "T", "d", "high", []);
      await first.append(event);
      const persisted: unknown[] = [];
      first.on("persisted", (info: unknown) => persisted.push(info));
      await first.shutdown();
      expect(persisted).toEqual([expect.objectContaining({ path })]);
      const second = await started({ databasePath: path });
      expect((await second.getEvents("task-1")).map((e) => e.id)).toEqual([event.id]);
    } finally {
      await cleanup();
    }
  });

  it("says clearly when there is no annal binary", async () => {
    const missing = new EventStore({ annalBin: "/nonexistent/annal" });
    await expect(missing.initialize()).rejects.toBeInstanceOf(AnnalBinaryNotFoundError);
    const saved = { bin: process.env["ANNAL_BIN"], path: process.env["PATH"] };
    try {
      delete process.env["ANNAL_BIN"];
      process.env["PATH"] = "/nonexistent";
      expect(() => findAnnal()).toThrow(/ANNAL_BIN/);
      await expect(new EventStore().initialize()).rejects.toBeInstanceOf(AnnalBinaryNotFoundError);
    } finally {
      process.env["ANNAL_BIN"] = saved.bin;
      process.env["PATH"] = saved.path;
    }
  });

  it("talks to a running server by url, with its token", async () => {
    const store = await started({ url: shared.url, token: shared.adminToken });
    expect(store.storeLocation).toBeUndefined();
    const id = unique("agent");
    await store.append(factories.createAgentSpawnedEvent(id, "coder", "core", []));
    expect(await store.getEvents(id)).toHaveLength(1);
    const readOnly = await started({ url: shared.url, token: shared.readToken });
    await expect(readOnly.append(factories.createAgentStartedEvent(id))).rejects.toBeInstanceOf(ForbiddenError);
    expect(await readOnly.getEvents(id)).toHaveLength(1);
    await expect(new EventStore({ url: shared.url }).initialize()).rejects.toThrow(/401/);
  });
});

describe("append", () => {
  it("sets the caller's version, treats the same event again as a retry, and refuses a reused id", async () => {
    const store = await started();
    const event = factories.createAgentSpawnedEvent("agent-1", "coder", "core", []);
    event.version = 42;
    await store.append(event);
    expect(event.version).toBe(1);
    await store.append(event);
    expect(event.version).toBe(1);
    expect(await store.getEvents("agent-1")).toHaveLength(1);
    const reused = { ...factories.createAgentStartedEvent("agent-2"), id: event.id, version: 7 };
    await expect(store.append(reused)).rejects.toBeInstanceOf(DuplicateEventIdError);
    expect(reused.version).toBe(7);
    expect(await store.getEvents("agent-2")).toEqual([]);
  });

  it("keeps metadata, causation and correlation ids", async () => {
    const store = await started();
    const event: DomainEvent = {
      ...factories.createTaskQueuedEvent("task-1", "high"),
      metadata: { by: "test" },
      causationId: "evt-cause",
      correlationId: "corr-1",
    };
    await store.append(event);
    const [stored] = await store.getEvents("task-1");
    expect(stored).toEqual({ ...event, version: 1 });
    const plain = factories.createTaskQueuedEvent("task-2", "low");
    await store.append(plain);
    const [read] = await store.getEvents("task-2");
    expect(read?.metadata).toEqual({});
    expect(read?.causationId).toBeUndefined();
  });
});

describe("reads", () => {
  it("answers an empty list for an unknown aggregate and null for a missing snapshot", async () => {
    const store = await started();
    expect(await store.getEvents("nobody")).toEqual([]);
    expect(await store.getEventsByType("agent:spawned")).toEqual([]);
    expect(await store.getSnapshot("nobody")).toBeNull();
    expect(await all(store.replay())).toEqual([]);
  });

  it("applies the time bounds exclusively, fromVersion, and offset with or without limit", async () => {
    const store = await started();
    const at = (timestamp: number, id: string) => ({ ...factories.createAgentStartedEvent(id), timestamp });
    for (const [t, id] of [[1000, "a"], [2000, "a"], [3000, "b"], [4000, "a"]] as const) await store.append(at(t, id));
    const times = async (filter: Parameters<EventStore["query"]>[0]) => (await store.query(filter)).map((e) => e.timestamp);
    expect(await times({ afterTimestamp: 1000, beforeTimestamp: 4000 })).toEqual([2000, 3000]);
    expect(await times({ fromVersion: 2 })).toEqual([2000, 4000]);
    expect(await times({ fromVersion: 2, offset: 1, limit: 1 })).toEqual([4000]);
    expect(await times({ offset: 3 })).toEqual([4000]);
    expect(await times({ limit: 0 })).toEqual([1000, 2000, 3000, 4000]);
    expect(await times({ aggregateIds: ["a"], eventTypes: ["agent:started"], aggregateTypes: ["agent"], limit: 2 })).toEqual([
      1000, 2000,
    ]);
  });

  it("refuses a snapshot older than the stored one (the seed let it overwrite)", async () => {
    const store = await started();
    for (let i = 0; i < 3; i++) await store.append(factories.createAgentStartedEvent("agent-1"));
    const at = (version: number) => ({ aggregateId: "agent-1", aggregateType: "agent" as const, version, state: { version }, timestamp: 1 });
    await store.saveSnapshot(at(3));
    await expect(store.saveSnapshot(at(2))).rejects.toBeInstanceOf(SnapshotStaleError);
    expect((await store.getSnapshot("agent-1"))?.state).toEqual({ version: 3 });
    expect((await store.getStats()).snapshotCount).toBe(1);
  });
});

describe("factories", () => {
  it("make all 23 event types, each stored and read back intact", async () => {
    const store = await started();
    const error = new Error("boom");
    const made: DomainEvent[] = [
      factories.createAgentSpawnedEvent("agent-1", "coder", "core", ["x"]),
      factories.createAgentStartedEvent("agent-1"),
      factories.createAgentStoppedEvent("agent-1", "done"),
      factories.createAgentFailedEvent("agent-1", error),
      factories.createAgentStatusChangedEvent("agent-1", "error", "idle"),
      factories.createAgentTaskAssignedEvent("agent-1", "task-1"),
      factories.createAgentTaskCompletedEvent("agent-1", "task-1", { ok: true }, 5, 6),
      factories.createTaskCreatedEvent("task-1", "impl", "T", "d", "high", ["task-0"]),
      factories.createTaskStartedEvent("task-1", "agent-1"),
      factories.createTaskCompletedEvent("task-1", { ok: true }, 10),
      factories.createTaskFailedEvent("task-1", error, 2),
      factories.createTaskBlockedEvent("task-1", ["task-0"]),
      factories.createTaskQueuedEvent("task-1", "low"),
      factories.createMemoryStoredEvent("mem-1", "ns", "k", "semantic", 10),
      factories.createMemoryRetrievedEvent("mem-1", "ns", "k", 3),
      factories.createMemoryDeletedEvent("mem-1", "ns", "k"),
      factories.createMemoryExpiredEvent("mem-1", "ns", "k", 99),
      factories.createSwarmInitializedEvent("mesh", 8, { a: 1 }),
      factories.createSwarmScaledEvent(8, 16, "load"),
      factories.createSwarmTerminatedEvent("done", { n: 1 }),
      factories.createSwarmPhaseChangedEvent("plan", "build"),
      factories.createSwarmMilestoneReachedEvent("m1", "first"),
      factories.createSwarmErrorEvent(error, { where: "x" }),
    ];
    expect(made.map((e) => e.type)).toEqual([...EVENT_TYPES]);
    expect(new Set(made.map((e) => e.id)).size).toBe(23);
    for (const event of made) {
      expect(event.aggregateType).toBe(event.type.split(":")[0]);
      await store.append(event);
    }
    const stored = await all(store.replay());
    expect(stored.map((e) => e.id)).toEqual(made.map((e) => e.id));
    expect(stored.map((e) => e.payload)).toEqual(made.map((e) => JSON.parse(JSON.stringify(e.payload))));
    expect(stored[3]?.payload).toMatchObject({ agentId: "agent-1", error: "boom" });
    expect(stored.filter((e) => e.aggregateId === "swarm").map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe("projections", () => {
  it("answer every getter, emit per event, and fold again after reset", async () => {
    const store = await started();
    const events: DomainEvent[] = [
      factories.createAgentSpawnedEvent("a1", "coder", "core", []),
      factories.createAgentSpawnedEvent("a2", "tester", "quality", []),
      factories.createAgentSpawnedEvent("a3", "ops", "core", []),
      factories.createAgentStartedEvent("a1"),
      factories.createAgentStoppedEvent("a2", "done"),
      factories.createAgentFailedEvent("a3", new Error("x")),
      factories.createAgentStatusChangedEvent("a3", "error", "blocked"),
      factories.createAgentTaskCompletedEvent("a1", "t1", null, 1, 300),
      factories.createTaskCreatedEvent("t1", "impl", "One", "d", "high", []),
      factories.createTaskCreatedEvent("t2", "impl", "Two", "d", "low", ["t1"]),
      factories.createTaskCreatedEvent("t3", "impl", "Three", "d", "low", []),
      factories.createTaskQueuedEvent("t2", "low"),
      factories.createTaskStartedEvent("t1", "a1"),
      factories.createTaskCompletedEvent("t1", { ok: true }, 100),
      factories.createTaskFailedEvent("t3", new Error("bad"), 2),
      factories.createTaskBlockedEvent("t2", ["t1"]),
      factories.createMemoryStoredEvent("m1", "ns", "k1", "semantic", 10),
      factories.createMemoryStoredEvent("m2", "ns", "k2", "semantic", 20),
      factories.createMemoryStoredEvent("m3", "other", "k3", "semantic", 40),
      factories.createMemoryRetrievedEvent("m2", "ns", "k2", 5),
      factories.createMemoryRetrievedEvent("m1", "ns", "k1", 2),
      factories.createMemoryExpiredEvent("m3", "other", "k3", 1),
    ];
    for (const event of events) await store.append(event);

    const agents = new AgentStateProjection(store);
    const notices: string[] = [];
    agents.on("agent:started", (info: { agentId: string }) => notices.push(info.agentId));
    await agents.initialize();
    expect(notices).toEqual(["a1"]);
    expect(agents.getAllAgents().map((a) => a.id)).toEqual(["a1", "a2", "a3"]);
    expect(agents.getAgentsByDomain("core").map((a) => a.id)).toEqual(["a1", "a3"]);
    expect(agents.getActiveAgentCount()).toBe(0);
    expect(agents.getAgent("a1")).toMatchObject({ status: "idle", taskCount: 1, totalTaskDuration: 300, completedTasks: ["t1"] });
    expect(agents.getAgent("a2")?.status).toBe("completed");
    expect(agents.getAgent("a3")).toMatchObject({ status: "blocked", errorCount: 1 });
    expect(agents.getAgent("nobody")).toBeNull();

    const tasks = new TaskHistoryProjection(store);
    await tasks.initialize();
    expect(tasks.getAllTasks().map((t) => t.id)).toEqual(["t1", "t2", "t3"]);
    expect(tasks.getTasksByStatus("blocked").map((t) => t.blockedBy)).toEqual([["t1"]]);
    expect(tasks.getTasksByAgent("a1").map((t) => t.id)).toEqual(["t1"]);
    expect(tasks.getCompletedTaskCount()).toBe(1);
    expect(tasks.getTask("t3")).toMatchObject({ status: "failed", error: "bad", retryCount: 2 });
    expect(tasks.getAverageTaskDuration()).toBe(100);

    const memory = new MemoryIndexProjection(store);
    await memory.initialize();
    expect(memory.getMemoriesByNamespace("ns").map((m) => m.id)).toEqual(["m1", "m2"]);
    expect(memory.getMostAccessedMemories(1).map((m) => m.id)).toEqual(["m2"]);
    expect(memory.getMemory("m3")?.isDeleted).toBe(true);
    expect(memory.getTotalSizeByNamespace("other")).toBe(0);

    memory.reset();
    expect(memory.getActiveMemories()).toEqual([]);
    await memory.initialize();
    expect(memory.getActiveMemories()).toHaveLength(2);
  });
});
