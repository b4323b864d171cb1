/**
 * The seed's own test cases (its specification's section 6.1: appending,
 * retrieval, filtering, replay, snapshots, stats and the three projections)
 * against the drop-in `EventStore`, each store a private `annal serve` on a
 * temporary store, as the seed's `{ databasePath: ':memory:' }` asks.
 *
 * Where the seed was wrong, the answer checked is annal's: stats count
 * (the seed answered 0 events), `replay(n)` starts at global position n, and
 * a snapshot needs the events it summarizes (the seed stored a version-5
 * snapshot of an aggregate with no events).
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import {
  AgentStateProjection,
  EventStore,
  MemoryIndexProjection,
  SnapshotAheadOfStreamError,
  TaskHistoryProjection,
  createAgentSpawnedEvent,
  createAgentStartedEvent,
  createAgentTaskAssignedEvent,
  createAgentTaskCompletedEvent,
  createMemoryDeletedEvent,
  createMemoryRetrievedEvent,
  createMemoryStoredEvent,
  createTaskCompletedEvent,
  createTaskCreatedEvent,
  createTaskStartedEvent,
  type DomainEvent,
} from "../src/seed/index.js";
import { all } from "./annal.js";

let store: EventStore;

beforeEach(async () => {
  store = new EventStore({ databasePath: ":memory:" });
  await store.initialize();
});

afterEach(async () => {
  await store.shutdown();
});

const spawned = (id: string, role = "coder", domain = "core") => createAgentSpawnedEvent(id, role, domain, []);
const taskCreated = (id: string, title = "Task") => createTaskCreatedEvent(id, "implementation", title, "Desc", "high", []);

describe("EventStore: appending", () => {
  it("stores an event at version 1", async () => {
    await store.append(createAgentSpawnedEvent("agent-1", "coder", "core", ["coding"]));
    const events = await store.getEvents("agent-1");
    expect(events).toHaveLength(1);
    expect(events[0]?.type).toBe("agent:spawned");
    expect(events[0]?.version).toBe(1);
  });

  it("numbers one aggregate's events 1, 2", async () => {
    await store.append(spawned("agent-1"));
    await store.append(createAgentStartedEvent("agent-1"));
    expect((await store.getEvents("agent-1")).map((e) => e.version)).toEqual([1, 2]);
  });

  it("numbers each aggregate from 1", async () => {
    await store.append(spawned("agent-1"));
    await store.append(spawned("agent-2", "tester", "quality"));
    expect((await store.getEvents("agent-1"))[0]?.version).toBe(1);
    expect((await store.getEvents("agent-2"))[0]?.version).toBe(1);
  });
});

describe("EventStore: retrieval", () => {
  beforeEach(async () => {
    await store.append(spawned("agent-1"));
    await store.append(createAgentStartedEvent("agent-1"));
    await store.append(taskCreated("task-1", "Build feature"));
    await store.append(createTaskStartedEvent("task-1", "agent-1"));
  });

  it("answers an aggregate's events in version order", async () => {
    expect((await store.getEvents("agent-1")).map((e) => e.type)).toEqual(["agent:spawned", "agent:started"]);
  });

  it("answers an aggregate's events from a version", async () => {
    expect((await store.getEvents("agent-1", 2)).map((e) => e.type)).toEqual(["agent:started"]);
  });

  it("answers the events of one type", async () => {
    const events = await store.getEventsByType("task:created");
    expect(events.map((e) => e.aggregateId)).toEqual(["task-1"]);
  });
});

describe("EventStore: filtering", () => {
  beforeEach(async () => {
    await store.append(spawned("agent-1"));
    await store.append(spawned("agent-2", "tester", "quality"));
    await store.append(taskCreated("task-1", "Task 1"));
    await store.append(createMemoryStoredEvent("mem-1", "default", "key1", "semantic", 1024));
  });

  it("filters by aggregate type", async () => {
    const events = await store.query({ aggregateTypes: ["agent"] });
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.aggregateType === "agent")).toBe(true);
  });

  it("filters by event type", async () => {
    const events = await store.query({ eventTypes: ["agent:spawned"] });
    expect(events.map((e) => e.aggregateId)).toEqual(["agent-1", "agent-2"]);
  });

  it("filters by aggregate id", async () => {
    expect((await store.query({ aggregateIds: ["agent-1", "task-1"] })).map((e) => e.aggregateId)).toEqual([
      "agent-1",
      "task-1",
    ]);
  });

  it("pages with limit and offset", async () => {
    const first = await store.query({ limit: 2, offset: 0 });
    const second = await store.query({ limit: 2, offset: 2 });
    expect(first).toHaveLength(2);
    expect(second).toHaveLength(2);
    expect(first[0]?.id).not.toBe(second[0]?.id);
    expect([...first, ...second].map((e) => e.aggregateId)).toEqual(["agent-1", "agent-2", "task-1", "mem-1"]);
  });
});

describe("EventStore: replay", () => {
  beforeEach(async () => {
    await store.append(spawned("agent-1"));
    await store.append(createAgentStartedEvent("agent-1"));
    await store.append(taskCreated("task-1"));
  });

  it("replays every event in append order", async () => {
    const events = await all(store.replay());
    expect(events.map((e) => e.type)).toEqual(["agent:spawned", "agent:started", "task:created"]);
  });

  it("replays from a global position (the seed compared a per-aggregate version)", async () => {
    const events = await all(store.replay(2));
    expect(events.map((e) => e.type)).toEqual(["agent:started", "task:created"]);
  });
});

describe("EventStore: snapshots", () => {
  const tenEvents = async () => {
    await store.append(spawned("agent-1"));
    for (let i = 0; i < 9; i++) await store.append(createAgentStartedEvent("agent-1"));
  };

  it("reads back a saved snapshot", async () => {
    await tenEvents();
    const state = { status: "active", tasks: ["task-1"] };
    await store.saveSnapshot({ aggregateId: "agent-1", aggregateType: "agent", version: 5, state, timestamp: Date.now() });
    const snapshot = await store.getSnapshot("agent-1");
    expect(snapshot?.version).toBe(5);
    expect(snapshot?.state).toEqual(state);
  });

  it("answers the newest snapshot", async () => {
    await tenEvents();
    const at = (version: number) => ({
      aggregateId: "agent-1",
      aggregateType: "agent" as const,
      version,
      state: { version },
      timestamp: Date.now(),
    });
    await store.saveSnapshot(at(5));
    await store.saveSnapshot(at(10));
    expect((await store.getSnapshot("agent-1"))?.version).toBe(10);
  });

  it("refuses a snapshot past the aggregate's events (the seed stored it)", async () => {
    const ahead = { aggregateId: "agent-1", aggregateType: "agent" as const, version: 5, state: {}, timestamp: 1 };
    await expect(store.saveSnapshot(ahead)).rejects.toBeInstanceOf(SnapshotAheadOfStreamError);
    expect(await store.getSnapshot("agent-1")).toBeNull();
  });
});

describe("EventStore: stats", () => {
  it("counts events, by type and by aggregate (the seed's totals were always 0)", async () => {
    await store.append(spawned("agent-1"));
    await store.append(spawned("agent-2", "tester", "quality"));
    await store.append(taskCreated("task-1"));
    const stats = await store.getStats();
    expect(stats.totalEvents).toBe(3);
    expect(stats.eventsByType).toEqual({ "agent:spawned": 2, "task:created": 1 });
    expect(stats.eventsByAggregate).toEqual({ "agent-1": 1, "agent-2": 1, "task-1": 1 });
    expect(stats.oldestEvent).not.toBeNull();
    expect(stats.newestEvent).toBeGreaterThanOrEqual(stats.oldestEvent ?? 0);
    expect(stats.snapshotCount).toBe(0);
  });
});

describe("AgentStateProjection", () => {
  it("builds an agent from spawned and started", async () => {
    await store.append(createAgentSpawnedEvent("agent-1", "coder", "core", ["coding"]));
    await store.append(createAgentStartedEvent("agent-1"));
    const projection = new AgentStateProjection(store);
    await projection.initialize();
    expect(projection.getAgent("agent-1")).toMatchObject({ role: "coder", status: "active" });
  });

  it("tracks the assigned task", async () => {
    await store.append(spawned("agent-1"));
    await store.append(createAgentTaskAssignedEvent("agent-1", "task-1", Date.now()));
    const projection = new AgentStateProjection(store);
    await projection.initialize();
    expect(projection.getAgent("agent-1")?.currentTask).toBe("task-1");
  });

  it("tracks completed tasks", async () => {
    await store.append(spawned("agent-1"));
    await store.append(createAgentTaskCompletedEvent("agent-1", "task-1", { success: true }, Date.now(), 5000));
    const projection = new AgentStateProjection(store);
    await projection.initialize();
    expect(projection.getAgent("agent-1")?.completedTasks).toContain("task-1");
    expect(projection.getAgent("agent-1")?.taskCount).toBe(1);
  });

  it("answers agents by status", async () => {
    await store.append(spawned("agent-1"));
    await store.append(spawned("agent-2", "tester", "quality"));
    await store.append(createAgentStartedEvent("agent-1"));
    const projection = new AgentStateProjection(store);
    await projection.initialize();
    expect(projection.getAgentsByStatus("active").map((a) => a.id)).toEqual(["agent-1"]);
    expect(projection.getAgentsByStatus("idle").map((a) => a.id)).toEqual(["agent-2"]);
  });
});

describe("TaskHistoryProjection", () => {
  it("builds a task from created, started and completed", async () => {
    await store.append(taskCreated("task-1", "Build Feature"));
    await store.append(createTaskStartedEvent("task-1", "agent-1"));
    await store.append(createTaskCompletedEvent("task-1", { success: true }, 5000));
    const projection = new TaskHistoryProjection(store);
    await projection.initialize();
    expect(projection.getTask("task-1")).toMatchObject({ title: "Build Feature", status: "completed", assignedAgent: "agent-1" });
  });

  it("averages completed tasks' durations", async () => {
    await store.append(taskCreated("task-1"));
    await store.append(createTaskCompletedEvent("task-1", { success: true }, 5000));
    await store.append(taskCreated("task-2"));
    await store.append(createTaskCompletedEvent("task-2", { success: true }, 3000));
    const projection = new TaskHistoryProjection(store);
    await projection.initialize();
    expect(projection.getAverageTaskDuration()).toBe(4000);
  });
});

describe("MemoryIndexProjection", () => {
  const build = async (events: DomainEvent[]) => {
    for (const event of events) await store.append(event);
    const projection = new MemoryIndexProjection(store);
    await projection.initialize();
    return projection;
  };

  it("builds an entry from stored and retrieved", async () => {
    const projection = await build([
      createMemoryStoredEvent("mem-1", "default", "key1", "semantic", 1024),
      createMemoryRetrievedEvent("mem-1", "default", "key1", 1),
    ]);
    expect(projection.getMemory("mem-1")).toMatchObject({ namespace: "default", accessCount: 1 });
  });

  it("marks deletions", async () => {
    const projection = await build([
      createMemoryStoredEvent("mem-1", "default", "key1", "semantic", 1024),
      createMemoryDeletedEvent("mem-1", "default", "key1"),
    ]);
    expect(projection.getMemory("mem-1")?.isDeleted).toBe(true);
    expect(projection.getActiveMemories()).toHaveLength(0);
  });

  it("sums sizes by namespace", async () => {
    const projection = await build([
      createMemoryStoredEvent("mem-1", "ns1", "key1", "semantic", 1024),
      createMemoryStoredEvent("mem-2", "ns1", "key2", "semantic", 2048),
      createMemoryStoredEvent("mem-3", "ns2", "key3", "semantic", 512),
    ]);
    expect(projection.getTotalSizeByNamespace("ns1")).toBe(3072);
    expect(projection.getTotalSizeByNamespace("ns2")).toBe(512);
  });
});
