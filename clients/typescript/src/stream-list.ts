/**
 * The stream catalogue as an async iterator: `GET /v1/streams` page by page,
 * each page asked after the last stream id of the one before.
 *
 * Invariant: the server's cursor is the last id of the page it answered and
 * each page holds only ids after the cursor asked, so the iterator yields every
 * matching stream once, in id order; a server answering the cursor it was
 * given is a `ProtocolError`, not an endless loop. (The check is equality, not
 * order: the server sorts by UTF-8 bytes, JavaScript by UTF-16 units.)
 */

import { ProtocolError } from "./errors.js";
import type { Transport } from "./http.js";
import type { PageOptions, StreamSummary } from "./types.js";

/** Options of `listStreams`. */
export interface ListStreamsOptions extends PageOptions {
  /** Only streams whose id starts with this (default: every stream). */
  prefix?: string | undefined;
  /** Start after this stream id (exclusive), as a cursor. */
  after?: string | undefined;
}

/** Streams per request unless told (the server's default; it allows 1 to 1,000). */
const DEFAULT_PAGE = 100;

interface StreamListPage {
  streams: StreamSummary[];
  next?: string | null;
}

/** Every stream matching `options.prefix`, in id order, paging by cursor. */
export async function* streamPages(
  transport: Transport,
  options: ListStreamsOptions,
): AsyncGenerator<StreamSummary, void, undefined> {
  const limit = options.pageSize ?? DEFAULT_PAGE;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new TypeError(`pageSize must be a positive integer, got ${String(options.pageSize)}`);
  }
  let after = options.after;
  for (;;) {
    const page = await transport.json<StreamListPage>({
      method: "GET",
      path: "/v1/streams",
      query: { prefix: options.prefix, after, limit },
      retry: true,
      signal: options.signal,
    });
    for (const summary of page.streams) {
      if (!Number.isSafeInteger(summary.lastPosition) || !Number.isSafeInteger(summary.version)) {
        throw new ProtocolError(`stream ${summary.stream}: position or version is not an exact JavaScript number`);
      }
      yield summary;
    }
    const next = page.next;
    if (next === undefined || next === null) return;
    if (next === after) {
      throw new ProtocolError(`listStreams: the cursor ${JSON.stringify(next)} does not move past ${JSON.stringify(after)}`);
    }
    after = next;
  }
}
