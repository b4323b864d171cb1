/**
 * The client's public data types, taken from the server's OpenAPI document
 * (`src/openapi.ts`, generated) wherever the wire shape is the type.
 *
 * Positions and versions are JavaScript numbers: exact up to
 * `Number.MAX_SAFE_INTEGER` (2^53 - 1, about 9e15 events). The client checks
 * every position and version it reads and throws `ProtocolError` past that,
 * so a number is never silently rounded.
 */

import type { components, operations } from "./openapi.js";

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

/** An event's causes (root first), effects (in position order) and correlated events. */
export type Trace = Schemas["Trace"];
/** One stream of `listStreams`: its aggregate type, event count, version and newest position. */
export type StreamSummary = Schemas["StreamSummary"];
/** The server's live figures: head, live subscribers, each projection's checkpoint and lag. */
export type ServerStatus = Schemas["ServerStatus"];
/** One server-kept projection's checkpoint and lag (both absent while it is loading or catching up). */
export type ProjectionProgress = Schemas["ProjectionProgress"];
/** The agent state, task history and memory index as of a position or time. */
export type ProjectionsAsOf = Schemas["SwarmAsOf"];
/** One agent of `projectionsAsOf`. */
export type AgentAsOf = Schemas["AgentView"];
/** One task of `projectionsAsOf`. */
export type TaskAsOf = Schemas["TaskView"];
/** One memory entry of `projectionsAsOf`. */
export type MemoryAsOf = Schemas["MemoryView"];
/** One mark of `projectionsAsOf`'s timeline. */
export type TimelineMark = Schemas["TimelineMark"];

type AsOfParameters = NonNullable<operations["getProjectionsAsOf"]["parameters"]["query"]>;

/**
 * What `projectionsAsOf` folds: the events up to `position` (inclusive), or those stamped at or
 * before `time` (ms since epoch), never both; with neither, the projections at the head. The
 * other fields narrow and page the lists.
 */
export type ProjectionsAsOfQuery = Omit<AsOfParameters, "position" | "time"> &
  (
    | { position?: number | undefined; time?: undefined }
    | { time?: number | undefined; position?: undefined }
  );

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
