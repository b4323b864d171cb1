/**
 * `subscribe`: live delivery, starting points, filters, cancellation, and a
 * subscription that outlives its server being killed and restarted on the
 * same store and port, yielding every event exactly once.
 */

import { describe, expect, inject, it } from "vitest";

import { AnnalClient, ConnectionError, type RecordedEvent } from "../src/index.js";
import { startServer } from "../src/seed/server-process.js";
import { tempStore, unique } from "./annal.js";

const shared = inject("annal");
const client = new AnnalClient({ url: shared.url, token: shared.adminToken });

/** Takes `n` events from `iterator`, then closes it. */
async function take(iterator: AsyncGenerator<RecordedEvent>, n: number): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const event of iterator) {
    out.push(event);
    if (out.length === n) break;
  }
  return out;
}

describe("subscribe", () => {
  it("delivers events committed after it starts, by default", async () => {
    const prefix = unique("live");
    await client.append(`${prefix}-old`, { type: "agent:spawned", payload: {} });
    const subscription = client.subscribe({ filter: { streamPrefix: prefix } });
    const received = take(subscription, 3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await client.append(`${prefix}-a`, [{ type: "agent:spawned", payload: { n: 1 } }, { type: "agent:started", payload: { n: 2 } }]);
    await client.append(`${prefix}-b`, { type: "task:created", payload: { n: 3 } });
    const events = await received;
    expect(events.map((e) => e.payload["n"])).toEqual([1, 2, 3]);
    const positions = events.map((e) => e.position);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it("starts at a position, or at the start, and filters by type", async () => {
    const prefix = unique("from");
    const first = await client.append(`${prefix}-a`, [
      { type: "agent:spawned", payload: {} },
      { type: "agent:started", payload: {} },
      { type: "agent:stopped", payload: {} },
    ]);
    const fromSecond = await take(client.subscribe({ from: first.firstPosition + 1, filter: { streamPrefix: prefix } }), 2);
    expect(fromSecond.map((e) => e.type)).toEqual(["agent:started", "agent:stopped"]);
    const typed = await take(
      client.subscribe({ from: "start", filter: { streamPrefix: prefix, types: ["agent:stopped"] } }),
      1,
    );
    expect(typed.map((e) => e.version)).toEqual([3]);
  });

  it("refuses a bad starting point and stops when the signal aborts", async () => {
    await expect(take(client.subscribe({ from: 0 }), 1)).rejects.toThrow(/from/);
    const controller = new AbortController();
    const waiting = take(client.subscribe({ signal: controller.signal, filter: { streamPrefix: unique("none") } }), 1);
    setTimeout(() => controller.abort(new Error("unsubscribed")), 100);
    await expect(waiting).rejects.toThrow("unsubscribed");
  });

  it("gives up after maxReconnects when the server is gone", async () => {
    const nowhere = new AnnalClient({ url: "http://127.0.0.1:9" });
    const attempts: number[] = [];
    const lost = take(
      nowhere.subscribe({ from: "start", maxReconnects: 2, reconnectDelayMs: 1, onReconnect: (n) => attempts.push(n) }),
      1,
    );
    await expect(lost).rejects.toBeInstanceOf(ConnectionError);
    expect(attempts).toEqual([1, 2]);
  });

  it("survives its server being killed and restarted mid-stream, losing and repeating nothing", async () => {
    const { store, cleanup } = await tempStore();
    let server = await startServer({ bin: shared.bin, store });
    const listen = new URL(server.url).host;
    const writer = new AnnalClient({ url: server.url, retries: 12, retryDelayMs: 20 });
    const reader = new AnnalClient({ url: server.url });
    const total = 300;
    const reconnects: unknown[] = [];
    const received: RecordedEvent[] = [];
    const reading = (async () => {
      for await (const event of reader.subscribe({
        from: "start",
        reconnectDelayMs: 20,
        onReconnect: (_, why) => reconnects.push(why),
      })) {
        received.push(event);
        if (received.length === total) break;
      }
    })();
    try {
      const writing = (async () => {
        for (let i = 0; i < total; i++) {
          await writer.append(`restart-${i % 5}`, { id: `restart-event-${i}`, type: "agent:started", payload: { i } });
        }
      })();
      // Kill the server once the subscriber is part-way through, then start a new one on
      // the same store and port while the writer keeps going (its appends retry meanwhile).
      while (received.length < 50) await new Promise((resolve) => setTimeout(resolve, 5));
      await server.stop("SIGKILL");
      server = await startServer({ bin: shared.bin, store, listen });
      await writing;
      await reading;
    } finally {
      await server.stop();
      await cleanup();
    }
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(received.map((e) => e.payload["i"])).toEqual(Array.from({ length: total }, (_, i) => i));
    const positions = received.map((e) => e.position);
    expect(new Set(positions).size).toBe(total);
  });
});
