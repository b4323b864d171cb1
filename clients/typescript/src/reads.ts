/**
 * Paged reads as async iterators: one stream by version, or the whole log
 * (optionally filtered) by position.
 *
 * Invariant: each page resumes strictly after the last event yielded (the
 * next version, or the next position), so an iterator yields every matching
 * event once, in order, however the pages fall; `limit` and `offset` count
 * events, not pages.
 */

import { ProtocolError, StreamNotFoundError } from "./errors.js";
import type { Transport } from "./http.js";
import type { Direction, EventFilter, PageOptions, RecordedEvent } from "./types.js";

/** Options of `readStream`. */
export interface ReadStreamOptions extends PageOptions {
  /** The first version read (inclusive); the newest when reading backward. */
  from?: number | undefined;
  direction?: Direction | undefined;
  /** At most this many events in all. */
  limit?: number | undefined;
  /** Yield nothing, rather than throw `StreamNotFoundError`, for a stream that never held an event. */
  allowMissing?: boolean | undefined;
}

/** Options of `query` and `readAll`. */
export interface QueryOptions extends EventFilter, PageOptions {
  /** The first position read (inclusive); forward only. */
  from?: number | undefined;
  /** At most this many events in all. */
  limit?: number | undefined;
  /** Skip this many matching events first. */
  offset?: number | undefined;
  direction?: Direction | undefined;
}

const DEFAULT_PAGE = 1000;

/** The events of one stream, page by page. */
export async function* readStreamPages(
  transport: Transport,
  stream: string,
  options: ReadStreamOptions,
): AsyncGenerator<RecordedEvent, void, undefined> {
  const pageSize = pageSizeOf(options.pageSize);
  const backward = options.direction === "backward";
  let remaining = options.limit ?? Infinity;
  let from = options.from;
  while (remaining > 0) {
    const limit = Math.min(pageSize, remaining);
    let page: RecordedEvent[];
    try {
      page = await transport.json<RecordedEvent[]>({
        method: "GET",
        path: `/v1/streams/${encodeURIComponent(stream)}/events`,
        query: { from, limit, direction: options.direction },
        retry: true,
        signal: options.signal,
      });
    } catch (error) {
      if (error instanceof StreamNotFoundError && options.allowMissing) return;
      throw error;
    }
    for (const event of page) {
      yield checked(event);
    }
    remaining -= page.length;
    const last = page.at(-1);
    if (page.length < limit || last === undefined) return;
    if (backward && last.version <= 1) return;
    from = backward ? last.version - 1 : last.version + 1;
  }
}

/**
 * The log, filtered, page by page: forward by position, backward by offset. The next page is
 * requested as soon as a page arrives, so the server prepares it while the caller consumes
 * this one; leaving the loop early cancels that request.
 */
export async function* queryPages(
  transport: Transport,
  options: QueryOptions,
): AsyncGenerator<RecordedEvent, void, undefined> {
  if (options.direction === "backward" && options.from !== undefined) {
    throw new TypeError("query: `from` reads forward; read backward without it");
  }
  const pageSize = pageSizeOf(options.pageSize);
  const backward = options.direction === "backward";
  const filter = filterQuery(options);
  const controller = new AbortController();
  const abort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", abort, { once: true });
  const fetchPage = (from: number | undefined, offset: number | undefined, limit: number) =>
    transport.json<RecordedEvent[]>({
      method: "GET",
      path: "/v1/events",
      query: { ...filter, from, limit, offset, direction: options.direction },
      retry: true,
      signal: options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]),
    });
  let remaining = options.limit ?? Infinity;
  let limit = Math.min(pageSize, remaining);
  let pending: Promise<RecordedEvent[]> | undefined = remaining > 0 ? fetchPage(options.from, options.offset, limit) : undefined;
  let offset = options.offset ?? 0;
  try {
    while (pending !== undefined) {
      const page = await pending;
      pending = undefined;
      remaining -= page.length;
      const last = page.at(-1);
      if (page.length === limit && last !== undefined && remaining > 0) {
        const nextLimit = Math.min(pageSize, remaining);
        offset += page.length;
        pending = backward ? fetchPage(undefined, offset, nextLimit) : fetchPage(last.position + 1, undefined, nextLimit);
        pending.catch(() => undefined);
        limit = nextLimit;
      }
      for (const event of page) {
        yield checked(event);
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", abort);
    controller.abort();
  }
}

/** The query parameters of a filter (lists comma-separated, as the server reads them). */
export function filterQuery(filter: EventFilter): Record<string, string | number | undefined> {
  return {
    types: list("types", filter.types),
    aggregateTypes: list("aggregateTypes", filter.aggregateTypes),
    streams: list("streams", filter.streams),
    streamPrefix: filter.streamPrefix,
    source: filter.source,
    correlationId: filter.correlationId,
    causationId: filter.causationId,
    since: filter.since,
    until: filter.until,
  };
}

function list(name: string, values: string[] | undefined): string | undefined {
  if (values === undefined || values.length === 0) return undefined;
  for (const value of values) {
    if (value.includes(",")) {
      throw new TypeError(`${name}: ${JSON.stringify(value)} contains a comma, which the API reads as a separator`);
    }
  }
  return values.join(",");
}

function pageSizeOf(pageSize: number | undefined): number {
  const size = pageSize ?? DEFAULT_PAGE;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new TypeError(`pageSize must be a positive integer, got ${String(pageSize)}`);
  }
  return size;
}

/** `event`, once its position and version are exact numbers. */
export function checked(event: RecordedEvent): RecordedEvent {
  if (!Number.isSafeInteger(event.position) || !Number.isSafeInteger(event.version)) {
    throw new ProtocolError(
      `event ${event.id}: position ${event.position} or version ${event.version} is not an exact JavaScript number`,
    );
  }
  return event;
}
