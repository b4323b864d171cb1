/**
 * Live subscriptions: the server's Server-Sent Events (`GET /v1/subscribe`,
 * each `id:` an event's position) as an async iterator that reconnects.
 *
 * Invariant: the iterator remembers the position of the last event it
 * yielded, reconnects with `Last-Event-ID` set to it, and drops any event at
 * or before it, so across any number of reconnections (a restarted server,
 * a dropped connection) it yields every matching event exactly once, in
 * position order. It starts from an explicit position (the head when asked
 * for "now"), so even a reconnection before the first event skips nothing.
 */

import { createParser } from "eventsource-parser";

import { ConnectionError, ProtocolError, UnavailableError } from "./errors.js";
import { errorOf, sleep, type Transport } from "./http.js";
import { checked } from "./reads.js";
import type { CallOptions, RecordedEvent } from "./types.js";

/** Options of `subscribe`. */
export interface SubscribeOptions extends CallOptions {
  /**
   * The first position delivered (inclusive); `"start"` for the whole log; `"now"` (the
   * default) for events committed after the call.
   */
  from?: number | "start" | "now" | undefined;
  /** Only these event types, and only streams whose id starts with `streamPrefix`. */
  filter?: { types?: string[] | undefined; streamPrefix?: string | undefined } | undefined;
  /** Failed connection attempts in a row before the iterator throws (default: never gives up). */
  maxReconnects?: number | undefined;
  /** The first wait before reconnecting, in ms (default 100); doubled each time, at most 5 s. */
  reconnectDelayMs?: number | undefined;
  /** A connection silent for this long (no event, no heartbeat) is replaced (default 60 s). */
  idleTimeoutMs?: number | undefined;
  /** Called before each reconnection, with why the connection ended. */
  onReconnect?: ((attempt: number, reason: unknown) => void) | undefined;
}

const MAX_DELAY_MS = 5000;

/** Follows the log from `options.from`, reconnecting until the signal aborts. */
export async function* subscribeEvents(
  transport: Transport,
  options: SubscribeOptions,
  head: () => Promise<number>,
): AsyncGenerator<RecordedEvent, void, undefined> {
  const signal = options.signal;
  let after = await startAfter(options.from, head);
  const query = {
    types: options.filter?.types?.join(","),
    streamPrefix: options.filter?.streamPrefix,
  };
  const maxReconnects = options.maxReconnects ?? Infinity;
  const firstDelay = options.reconnectDelayMs ?? 100;
  let delay = firstDelay;
  let failures = 0;
  for (;;) {
    signal?.throwIfAborted();
    let reason: unknown;
    try {
      for await (const event of connection(transport, query, after, options)) {
        if (event.position <= after) continue;
        after = event.position;
        failures = 0;
        delay = firstDelay;
        yield event;
      }
      reason = new ConnectionError("the server ended the subscription");
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!retryable(error)) throw error;
      reason = error;
    }
    failures += 1;
    if (failures > maxReconnects) {
      throw new ConnectionError(`subscription lost after ${failures - 1} reconnections`, { cause: reason });
    }
    options.onReconnect?.(failures, reason);
    await sleep(delay, signal);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}

async function startAfter(from: SubscribeOptions["from"], head: () => Promise<number>): Promise<number> {
  if (from === undefined || from === "now") return head();
  if (from === "start") return 0;
  if (!Number.isSafeInteger(from) || from < 1) {
    throw new TypeError(`subscribe: from must be a position of 1 or more, "start" or "now", got ${String(from)}`);
  }
  return from - 1;
}

function retryable(error: unknown): boolean {
  return error instanceof ConnectionError || error instanceof UnavailableError;
}

/** One connection's events, after position `after`. */
async function* connection(
  transport: Transport,
  query: Record<string, string | undefined>,
  after: number,
  options: SubscribeOptions,
): AsyncGenerator<RecordedEvent, void, undefined> {
  const controller = new AbortController();
  const abort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", abort, { once: true });
  const idleMs = options.idleTimeoutMs ?? 60_000;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => controller.abort(new ConnectionError(`no data for ${idleMs} ms`)), idleMs);
  };
  try {
    touch();
    let response: Response;
    try {
      response = await transport.fetchOnce("/v1/subscribe", query, {
        headers: transport.headers({ accept: "text/event-stream", "last-event-id": String(after) }),
        signal: controller.signal,
      });
    } catch (cause) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw new ConnectionError(`cannot reach ${transport.baseUrl} to subscribe`, { cause });
    }
    if (!response.ok) throw await errorOf(response, controller.signal);
    if (response.body === null) throw new ProtocolError("the subscription answer has no body");
    yield* frames(response.body, touch, controller.signal, options.signal);
  } finally {
    clearTimeout(idle);
    options.signal?.removeEventListener("abort", abort);
    controller.abort();
  }
}

/** The events of an SSE body, parsed as they arrive. */
async function* frames(
  body: ReadableStream<Uint8Array>,
  touch: () => void,
  connectionSignal: AbortSignal,
  callerSignal: AbortSignal | undefined,
): AsyncGenerator<RecordedEvent, void, undefined> {
  const pending: RecordedEvent[] = [];
  let bad: Error | undefined;
  const parser = createParser({
    onEvent(message) {
      try {
        pending.push(checked(JSON.parse(message.data) as RecordedEvent));
      } catch (cause) {
        bad ??= new ProtocolError(`subscription frame ${message.id ?? "?"} is not an event`, { cause });
      }
    },
    onComment: () => touch(),
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (cause) {
        if (callerSignal?.aborted) throw callerSignal.reason;
        const why = connectionSignal.reason instanceof ConnectionError ? connectionSignal.reason.message : "";
        throw new ConnectionError(`the subscription connection broke ${why}`.trim(), { cause });
      }
      if (chunk.done) return;
      touch();
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      if (bad !== undefined) throw bad;
      while (pending.length > 0) {
        const event = pending.shift();
        if (event !== undefined) yield event;
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
