/**
 * `AnnalClient`: every operation of `annal serve`'s HTTP API as a typed
 * method. Reads are async iterators that page under the hood; `subscribe`
 * follows the log live; errors are the typed classes of `errors.ts`.
 *
 * Invariant: every event appended through this client carries an id chosen
 * before the first attempt, so the automatic retry of an append whose answer
 * was lost cannot store it twice (the server answers a repeated batch with the
 * original result).
 */

import { ProtocolError, NotFoundError } from "./errors.js";
import { Transport, type TransportOptions } from "./http.js";
import { checked, queryPages, readStreamPages, type QueryOptions, type ReadStreamOptions } from "./reads.js";
import { streamPages, type ListStreamsOptions } from "./stream-list.js";
import { subscribeEvents, type SubscribeOptions } from "./subscribe.js";
import type {
  AppendResult,
  CallOptions,
  EventInput,
  ExpectedVersion,
  ProjectionsAsOf,
  ProjectionsAsOfQuery,
  RecordedEvent,
  RetentionPolicy,
  RetentionReport,
  ServerStatus,
  Snapshot,
  Stats,
  StreamSummary,
  Trace,
  VerifyReport,
} from "./types.js";
import type * as domain from "./domain.js";

/** How to reach the server. */
export type ClientOptions = TransportOptions;

/** Options of `append`. */
export interface AppendOptions extends CallOptions {
  /** Where the stream must be for the batch to go in (default `"any"`). */
  expectedVersion?: ExpectedVersion | undefined;
}

/** A client of one annal server. Works in Node 20+ and in browsers (it needs `fetch` and `AbortSignal.any`). */
export class AnnalClient {
  readonly #transport: Transport;

  constructor(options: ClientOptions) {
    this.#transport = new Transport(options);
  }

  /** The server's base URL. */
  get url(): string {
    return this.#transport.baseUrl;
  }

  /**
   * Appends `events` to `stream` atomically and answers their positions and versions.
   * Events without an id get a random one here, so the append is retried safely on
   * connection errors. Throws `WrongExpectedVersionError` (with `actualVersion`) when the
   * stream is not where `expectedVersion` says.
   */
  async append(stream: string, events: EventInput | EventInput[], options: AppendOptions = {}): Promise<AppendResult> {
    const batch = (Array.isArray(events) ? events : [events]).map((event) => ({
      ...event,
      id: event.id ?? newId(),
    }));
    if (batch.length === 0) throw new TypeError("append: the batch is empty; give at least one event");
    const result = await this.#transport.json<AppendResult>({
      method: "POST",
      path: streamPath(stream, "/events"),
      body: { expectedVersion: options.expectedVersion ?? "any", events: batch },
      retry: true,
      signal: options.signal,
    });
    for (const appended of result.events) {
      if (!Number.isSafeInteger(appended.position)) {
        throw new ProtocolError(`position ${appended.position} is not an exact JavaScript number`);
      }
    }
    return result;
  }

  /** One stream's events, oldest first (or newest first with `direction: "backward"`). */
  readStream(stream: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent, void, undefined> {
    return readStreamPages(this.#transport, stream, options);
  }

  /** Every event from `from` (a position, inclusive), in commit order. */
  readAll(options: Omit<QueryOptions, keyof import("./types.js").EventFilter> = {}): AsyncGenerator<RecordedEvent, void, undefined> {
    return queryPages(this.#transport, options);
  }

  /** The events matching every given filter field, in commit order (or backward). */
  query(options: QueryOptions = {}): AsyncGenerator<RecordedEvent, void, undefined> {
    return queryPages(this.#transport, options);
  }

  /**
   * Follows the log live from `from` (default: now), reconnecting with `Last-Event-ID`
   * after any failure; yields each event exactly once. Ends only by `break` or the signal.
   */
  subscribe(options: SubscribeOptions = {}): AsyncGenerator<RecordedEvent, void, undefined> {
    return subscribeEvents(this.#transport, options, () => this.head({ signal: options.signal }));
  }

  /** The stream's version; 0 if it never held an event. */
  async streamVersion(stream: string, options: CallOptions = {}): Promise<number> {
    const answer = await this.#get<{ version: number }>(streamPath(stream, ""), {}, options);
    return answer.version;
  }

  /** The position of the newest event; 0 for an empty store. */
  async head(options: CallOptions = {}): Promise<number> {
    const answer = await this.#get<{ head: number }>("/v1/head", {}, options);
    return answer.head;
  }

  /**
   * Why an event happened and what it led to: its causes (root first), its direct and
   * indirect effects (in position order) and the events sharing its correlation id, each list
   * at most `limit` long (default 100, at most 1,000; a cut list has its `…Truncated` flag set).
   * Throws `EventNotFoundError` when no event the caller may read has this id.
   */
  async trace(eventId: string, options: CallOptions & { limit?: number | undefined } = {}): Promise<Trace> {
    if (typeof eventId !== "string" || eventId === "") {
      throw new TypeError("trace: an event id must be a non-empty string");
    }
    const answer = await this.#get<Trace>(`/v1/events/${encodeURIComponent(eventId)}/trace`, { limit: options.limit }, options);
    checked(answer.event);
    for (const list of [answer.causes, answer.effects, answer.correlated]) list.forEach(checked);
    return answer;
  }

  /**
   * The streams whose id starts with `prefix` (default: all), in id order, with each one's
   * aggregate type, event count, version and newest position. Pages by cursor under the hood,
   * `pageSize` streams per request (default 100, the server allows at most 1,000).
   */
  listStreams(options: ListStreamsOptions = {}): AsyncGenerator<StreamSummary, void, undefined> {
    return streamPages(this.#transport, options);
  }

  /**
   * What the server is doing now: the head, the live subscribers and, for each projection
   * it keeps, the checkpoint and the lag behind the head (absent while it loads or catches up).
   */
  status(options: CallOptions = {}): Promise<ServerStatus> {
    return this.#get<ServerStatus>("/v1/status", {}, options);
  }

  /**
   * Time travel: the agent state, task history and memory index folded from exactly the
   * events up to `position` (inclusive), or from those stamped at or before `time`; with
   * neither, as of the head. The lists are paged with `offset`/`limit` (default 100, at most
   * 1,000). Needs a token that reads every stream. Giving both `position` and `time` is an
   * `InvalidRequestError`.
   */
  projectionsAsOf(options: ProjectionsAsOfQuery & CallOptions = {}): Promise<ProjectionsAsOf> {
    const { signal, ...query } = options;
    return this.#get<ProjectionsAsOf>("/v1/projections/as-of", query, { signal });
  }

  /** Counts over the store; `top` largest streams are listed (default 10, at most 1,000). */
  stats(options: CallOptions & { top?: number | undefined } = {}): Promise<Stats> {
    return this.#get<Stats>("/v1/stats", { top: options.top }, options);
  }

  /** Saves a snapshot of `stream` at `version`; refuses one older than the stored one. */
  saveSnapshot(
    stream: string,
    snapshot: { version: number; state: Record<string, unknown>; aggregateType?: string | undefined },
    options: CallOptions = {},
  ): Promise<Snapshot> {
    return this.#transport.json<Snapshot>({
      method: "PUT",
      path: streamPath(stream, "/snapshot"),
      body: snapshot,
      retry: true,
      signal: options.signal,
    });
  }

  /** The stream's newest snapshot, or `null` if it has none. */
  async getSnapshot(stream: string, options: CallOptions = {}): Promise<Snapshot | null> {
    try {
      return await this.#get<Snapshot>(streamPath(stream, "/snapshot"), {}, options);
    } catch (error) {
      if (error instanceof NotFoundError && error.code === "snapshot-not-found") return null;
      throw error;
    }
  }

  /** Removes every event and the snapshot of a stream (scope admin). */
  deleteStream(stream: string, options: CallOptions & { expectedVersion?: ExpectedVersion } = {}): Promise<RetentionReport> {
    return this.#transport.json<RetentionReport>({
      method: "DELETE",
      path: streamPath(stream, ""),
      query: { expectedVersion: options.expectedVersion },
      retry: false,
      signal: options.signal,
    });
  }

  /** Removes a stream's events before version `before` (scope admin). */
  truncateStream(stream: string, before: number, options: CallOptions & { force?: boolean } = {}): Promise<RetentionReport> {
    return this.#transport.json<RetentionReport>({
      method: "POST",
      path: streamPath(stream, "/truncate"),
      body: { before, force: options.force ?? false },
      retry: false,
      signal: options.signal,
    });
  }

  /** Applies a store-wide retention policy (scope admin). */
  applyRetention(policy: RetentionPolicy, options: CallOptions = {}): Promise<RetentionReport> {
    return this.#transport.json<RetentionReport>({
      method: "POST",
      path: "/v1/retention",
      body: policy,
      retry: false,
      signal: options.signal,
    });
  }

  /** Reads the whole store and checks positions and versions (scope admin). */
  verify(options: CallOptions = {}): Promise<VerifyReport> {
    return this.#get<VerifyReport>("/v1/verify", {}, options);
  }

  /** The agent-state projection, optionally narrowed. */
  agents(options: domain.AgentsQuery & CallOptions = {}): Promise<domain.AgentsAnswer> {
    const { signal, ...query } = options;
    return this.#get("/v1/projections/agents", query, { signal });
  }

  /** The task-history projection, optionally narrowed. */
  tasks(options: domain.TasksQuery & CallOptions = {}): Promise<domain.TasksAnswer> {
    const { signal, ...query } = options;
    return this.#get("/v1/projections/tasks", query, { signal });
  }

  /** The memory-index projection, by namespace or the most read. */
  memory(options: domain.MemoryQuery & CallOptions = {}): Promise<domain.MemoryAnswer> {
    const { signal, ...query } = options;
    return this.#get("/v1/projections/memory", query, { signal });
  }

  /** Records a run event in the run ledger (stream `run-<taskId>`). */
  recordRun(run: domain.RunEvent, options: CallOptions = {}): Promise<domain.RunEvent> {
    return this.#transport.json<domain.RunEvent>({
      method: "POST",
      path: "/v1/runs",
      body: run,
      retry: false,
      signal: options.signal,
    });
  }

  /**
   * Run events by task, by time range (inclusive), or the most recent (default 100, at most
   * 10,000). A time range holding more than 10,000 runs is refused (`InvalidRequestError`,
   * parameter `since`): narrow it, or ask for one task's runs.
   */
  listRuns(options: domain.RunsQuery & CallOptions = {}): Promise<domain.RunEvent[]> {
    const { signal, ...query } = options;
    return this.#get("/v1/runs", query, { signal });
  }

  /** Optimization metrics over every run. */
  runMetrics(options: CallOptions = {}): Promise<domain.OptimizationMetrics> {
    return this.#get("/v1/runs/metrics", {}, options);
  }

  /** Violations ranked by frequency times rework. */
  runViolations(options: CallOptions = {}): Promise<domain.ViolationRanking[]> {
    return this.#get("/v1/runs/violations", {}, options);
  }

  /** Whether the server answers and its store serves reads (`/readyz`). */
  async ready(options: CallOptions = {}): Promise<boolean> {
    try {
      const response = await this.#transport.send({ method: "GET", path: "/readyz", retry: false, signal: options.signal });
      await response.body?.cancel();
      return true;
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      return false;
    }
  }

  #get<T>(path: string, query: Record<string, string | number | boolean | undefined>, options: CallOptions): Promise<T> {
    return this.#transport.json<T>({ method: "GET", path, query, retry: true, signal: options.signal });
  }
}

function streamPath(stream: string, tail: string): string {
  if (typeof stream !== "string" || stream === "") {
    throw new TypeError("a stream id must be a non-empty string");
  }
  return `/v1/streams/${encodeURIComponent(stream)}${tail}`;
}

/** A random event id (UUID v4), chosen before the first attempt of an append. */
export function newId(): string {
  return globalThis.crypto.randomUUID();
}
