/**
 * The client's public data types, taken from the server's OpenAPI document
 * (`src/openapi.ts`, generated) wherever the wire shape is the type.
 *
 * Positions and versions are JavaScript numbers: exact up to
 * `Number.MAX_SAFE_INTEGER` (2^53 - 1, about 9e15 events). The client checks
 * every position and version it reads and throws `ProtocolError` past that,
 * so a number is never silently rounded.
 */

import type { components } from "./openapi.js";

type Schemas = components["schemas"];

/** A stored event. */
export type RecordedEvent = Schemas["RecordedEvent"];
/** The answer to an append: the stream's new version and each event's position and version. */
export type AppendResult = Schemas["AppendResponse"];
/** Counts over the readable events. */
export type Stats = Schemas["Stats"];
/** A stream's saved state at a version. */
export type Snapshot = Schemas["Snapshot"];
/** What a deletion, truncation or retention removed. */
export type RetentionReport = Schemas["RetentionReport"];
/** A store-wide retention policy. */
export type RetentionPolicy = Schemas["RetentionPolicy"];
/** What a verification found. */
export type VerifyReport = Schemas["VerifyReport"];

/** `"any"`, `"noStream"`, `"streamExists"` or the exact version the stream must be at. */
export type ExpectedVersion = Schemas["ExpectedVersion"];

/** An event to append; the client gives it an id when it has none, so a retry is idempotent. */
export type EventInput = Omit<Schemas["NewEvent"], "id"> & { id?: string | undefined };

/** The filter fields of `query`, `readAll` and (`types`, `streamPrefix`) `subscribe`. */
export interface EventFilter {
  /** Only these event types. */
  types?: string[] | undefined;
  /** Only these aggregate types. */
  aggregateTypes?: string[] | undefined;
  /** Only these streams (aggregate ids). */
  streams?: string[] | undefined;
  /** Only streams whose id starts with this. */
  streamPrefix?: string | undefined;
  /** Only events from this source. */
  source?: string | undefined;
  /** Only events with this correlation id. */
  correlationId?: string | undefined;
  /** Only events with this causation id. */
  causationId?: string | undefined;
  /** Only events at or after this timestamp (ms since epoch, inclusive). */
  since?: number | undefined;
  /** Only events before this timestamp (ms since epoch, exclusive). */
  until?: number | undefined;
}

/** Options every call takes. */
export interface CallOptions {
  /** Cancels the call; an iterator stops and its request is aborted. */
  signal?: AbortSignal | undefined;
}

/** Paging of an iterator: it fetches `pageSize` events per request (default 1,000). */
export interface PageOptions extends CallOptions {
  pageSize?: number | undefined;
}

/** `"forward"` (oldest first, the default) or `"backward"`. */
export type Direction = "forward" | "backward";
