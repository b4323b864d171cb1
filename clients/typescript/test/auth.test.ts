/**
 * Token auth: a read-only token reads but cannot append, an append token
 * cannot run admin operations, and a missing or unknown token is refused.
 */

import { describe, expect, inject, it } from "vitest";

import { AnnalClient, ForbiddenError, UnauthorizedError, type RecordedEvent } from "../src/index.js";
import { all, unique } from "./annal.js";

const shared = inject("annal");
const admin = new AnnalClient({ url: shared.url, token: shared.adminToken });
const reader = new AnnalClient({ url: shared.url, token: shared.readToken });
const appender = new AnnalClient({ url: shared.url, token: shared.appendToken });

describe("token auth", () => {
  it("lets a read-only token read and subscribe, but not append or save snapshots", async () => {
    const stream = unique("auth");
    await admin.append(stream, { type: "agent:spawned", payload: {} });
    expect(await all(reader.readStream(stream))).toHaveLength(1);
    expect(await reader.head()).toBeGreaterThan(0);
    const refused = await reader.append(stream, { type: "agent:started", payload: {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ForbiddenError);
    expect((refused as ForbiddenError).status).toBe(403);
    expect((refused as ForbiddenError).code).toBe("forbidden");
    await expect(reader.saveSnapshot(stream, { version: 1, state: {} })).rejects.toBeInstanceOf(ForbiddenError);
    expect(await admin.streamVersion(stream)).toBe(1);
    const first: RecordedEvent[] = [];
    for await (const event of reader.subscribe({ from: "start", filter: { streamPrefix: stream } })) {
      first.push(event);
      break;
    }
    expect(first[0]?.aggregateId).toBe(stream);
  });

  it("lets an append token append but not delete", async () => {
    const stream = unique("auth");
    await appender.append(stream, { type: "agent:spawned", payload: {} });
    await expect(appender.deleteStream(stream)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(appender.verify()).rejects.toBeInstanceOf(ForbiddenError);
  });

  it("refuses requests without a token or with an unknown one", async () => {
    const anonymous = new AnnalClient({ url: shared.url });
    await expect(anonymous.head()).rejects.toBeInstanceOf(UnauthorizedError);
    const forged = new AnnalClient({ url: shared.url, token: "annal_0000" });
    const refused = await forged.append(unique("auth"), { type: "agent:spawned", payload: {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnauthorizedError);
    expect((refused as UnauthorizedError).status).toBe(401);
    await expect(all(anonymous.subscribe({ from: "start", maxReconnects: 0 }))).rejects.toBeInstanceOf(UnauthorizedError);
  });
});
