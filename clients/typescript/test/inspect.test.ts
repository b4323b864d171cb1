/**
 * `AnnalClient`'s inspection calls against a real server: `trace`, `listStreams`
 * (paged by cursor), `status` and `projectionsAsOf` (time travel), on good and
 * bad input.
 */

import { describe, expect, inject, it } from "vitest";

import {
  AnnalClient,
  EventNotFoundError,
  InvalidRequestError,
  NotFoundError,
  type EventInput,
} from "../src/index.js";
import { all, privateServer, unique } from "./annal.js";

const shared = inject("annal");
const client = new AnnalClient({ url: shared.url, token: shared.adminToken });

const spawned = (agent: string, timestamp?: number): EventInput => ({
  type: "agent:spawned",
  aggregateType: "agent",
  payload: { agentId: agent, role: "coder", domain: "core", capabilities: [] },
  ...(timestamp === undefined ? {} : { timestamp }),
});

describe("trace", () => {
  it("lists a caused event's causes, effects and correlated events", async () => {
    const stream = unique("trace");
    const correlationId = unique("corr");
    const [root, middle, leaf] = [unique("root"), unique("middle"), unique("leaf")];
    await client.append(stream, [
      { id: root, type: "task:created", payload: {}, correlationId },
      { id: middle, type: "task:started", payload: {}, correlationId, causationId: root },
      { id: leaf, type: "task:completed", payload: {}, correlationId, causationId: middle },
    ]);
    await client.append(unique("trace-other"), { type: "task:created", payload: {}, correlationId: unique("corr") });

    const trace = await client.trace(middle);
    expect(trace.event.id).toBe(middle);
    expect(trace.causes.map((e) => e.id)).toEqual([root]);
    expect(trace.effects.map((e) => e.id)).toEqual([leaf]);
    expect(trace.correlated.map((e) => e.id)).toEqual([root, middle, leaf]);
    expect(trace.missingCause ?? null).toBeNull();
    expect([trace.causesTruncated, trace.effectsTruncated, trace.correlatedTruncated]).toEqual([false, false, false]);

    const fromRoot = await client.trace(root, { limit: 1 });
    expect(fromRoot.causes).toEqual([]);
    expect(fromRoot.effects.map((e) => e.id)).toEqual([middle]);
    expect(fromRoot.effectsTruncated).toBe(true);
    expect(fromRoot.correlated).toHaveLength(1);
    expect(fromRoot.correlatedTruncated).toBe(true);
  });

  it("names a cause that left the store", async () => {
    const id = unique("orphan");
    const command = unique("command");
    await client.append(unique("trace"), { id, type: "task:started", payload: {}, causationId: command });
    const trace = await client.trace(id);
    expect(trace.causes).toEqual([]);
    expect(trace.missingCause).toBe(command);
  });

  it("throws EventNotFoundError naming an unknown id, and refuses a bad limit or id", async () => {
    const missing = unique("no-such-event");
    const error = await client.trace(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventNotFoundError);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ status: 404, code: "event-not-found", eventId: missing });
    await expect(client.trace("a/b?c#d")).rejects.toBeInstanceOf(EventNotFoundError);

    const stream = unique("trace");
    const { events } = await client.append(stream, { type: "task:created", payload: {} });
    const tooMany = await client.trace(events[0]!.id, { limit: 1001 }).catch((e: unknown) => e);
    expect(tooMany).toBeInstanceOf(InvalidRequestError);
    expect(tooMany).toMatchObject({ parameter: "limit" });
    await expect(client.trace("")).rejects.toBeInstanceOf(TypeError);
  });
});

describe("listStreams", () => {
  it("pages across cursor boundaries in id order and honours the prefix", async () => {
    const prefix = unique("ls");
    const positions = new Map<string, number>();
    for (const name of ["e", "a", "d", "b", "c"]) {
      const stream = `${prefix}-${name}`;
      const count = name === "b" ? 3 : 1;
      const result = await client.append(
        stream,
        Array.from({ length: count }, () => ({ type: "task:queued", aggregateType: "task", payload: {} })),
      );
      positions.set(stream, result.lastPosition);
    }
    await client.append(`x${prefix}-a`, { type: "task:queued", payload: {} });
    await client.append(unique("ls"), { type: "task:queued", payload: {} });

    const afters: (string | null)[] = [];
    const counting = new AnnalClient({
      url: shared.url,
      token: shared.adminToken,
      fetch: (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        if (url.pathname === "/v1/streams") afters.push(url.searchParams.get("after"));
        return fetch(input, init);
      },
    });
    const listed = await all(counting.listStreams({ prefix, pageSize: 2 }));
    expect(listed.map((s) => s.stream)).toEqual(["a", "b", "c", "d", "e"].map((n) => `${prefix}-${n}`));
    expect(afters).toEqual([null, `${prefix}-b`, `${prefix}-d`]);
    const b = listed[1]!;
    expect(b).toMatchObject({ aggregateType: "task", events: 3, version: 3, lastPosition: positions.get(b.stream) });
    for (const summary of listed) expect(summary.lastPosition).toBe(positions.get(summary.stream));

    expect((await all(client.listStreams({ prefix, pageSize: 1000 }))).length).toBe(5);
    expect((await all(client.listStreams({ prefix, after: `${prefix}-c` }))).map((s) => s.stream)).toEqual([
      `${prefix}-d`,
      `${prefix}-e`,
    ]);
    expect(await all(client.listStreams({ prefix: unique("nothing") }))).toEqual([]);
    const everything = await all(client.listStreams({ pageSize: 1000 }));
    expect(everything.filter((s) => s.stream.startsWith(prefix))).toHaveLength(5);
  });

  it("refuses a bad page size", async () => {
    await expect(all(client.listStreams({ pageSize: 0 }))).rejects.toBeInstanceOf(TypeError);
    const tooBig = await all(client.listStreams({ pageSize: 1001 })).catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(InvalidRequestError);
    expect(tooBig).toMatchObject({ parameter: "limit" });
  });
});

describe("status and projectionsAsOf", () => {
  it("reports the head, live subscribers and projection checkpoints", async () => {
    const { server, stop } = await privateServer(shared.bin);
    try {
      const own = new AnnalClient({ url: server.url });
      const empty = await own.status();
      expect(empty).toMatchObject({ head: 0, liveSubscribers: 0 });
      expect(empty.subscribersMax).toBeGreaterThan(0);
      expect(empty.projections).toHaveLength(3);

      await own.append("agent-1", spawned("agent-1"));
      const last = await own.append("agent-2", [spawned("agent-2"), { type: "agent:started", payload: { agentId: "agent-2" } }]);
      expect((await own.status()).head).toBe(last.lastPosition);

      await own.agents();
      const caughtUp = await own.status();
      const progress = caughtUp.projections.filter((p) => p.checkpoint === last.lastPosition);
      expect(progress.length).toBeGreaterThanOrEqual(1);
      for (const p of progress) expect(p.lag).toBe(0);

      const controller = new AbortController();
      const subscription = own.subscribe({ from: "start", signal: controller.signal });
      await subscription.next();
      expect((await own.status()).liveSubscribers).toBe(1);
      controller.abort();
      await subscription.return(undefined);
    } finally {
      await stop();
    }
  });

  it("folds the projections as of a position or a time, omitting what came later", async () => {
    const { server, stop } = await privateServer(shared.bin);
    try {
      const own = new AnnalClient({ url: server.url });
      const early = await own.append("agent-early", spawned("agent-early", 1_000));
      const late = await own.append("agent-late", spawned("agent-late", 2_000));

      const before = await own.projectionsAsOf({ position: early.lastPosition });
      expect(before.position).toBe(early.lastPosition);
      expect(before.head).toBe(late.lastPosition);
      expect(before.timestamp).toBe(1_000);
      expect(before.agents.map((a) => a.id)).toEqual(["agent-early"]);
      expect(before.agentTotal).toBe(1);

      const byTime = await own.projectionsAsOf({ time: 1_500 });
      expect(byTime.agents.map((a) => a.id)).toEqual(["agent-early"]);

      const now = await own.projectionsAsOf();
      expect(now.agents.map((a) => a.id).sort()).toEqual(["agent-early", "agent-late"]);
      const paged = await own.projectionsAsOf({ position: late.lastPosition, limit: 1, offset: 1 });
      expect(paged.agentTotal).toBe(2);
      expect(paged.agents).toHaveLength(1);

      const both = await own.projectionsAsOf({ position: 1, time: 1 } as never).catch((e: unknown) => e);
      expect(both).toBeInstanceOf(InvalidRequestError);
      expect(both).toMatchObject({ parameter: "time" });
      await expect(own.projectionsAsOf({ limit: 1001 })).rejects.toBeInstanceOf(InvalidRequestError);
    } finally {
      await stop();
    }
  });
});
