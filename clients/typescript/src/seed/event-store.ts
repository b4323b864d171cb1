/**
 * `EventStore`: the seed's class, with its constructor, methods and emitted
 * events, backed by annal. Asked the seed's way (`{ databasePath }`), it runs
 * a private `annal serve` on that path (`':memory:'`: a temporary store
 * removed at `shutdown`); given `{ url, token }`, it talks to that server.
 *
 * Invariant: where the seed was wrong, annal's answer is kept: `replay(n)`
 * starts at global position n (not at per-aggregate version n), `getStats`
 * counts, snapshots never go back in version, `event.version` is set only once
 * the append is durable, and offset without limit pages.
 */

import { EventEmitter } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { AnnalClient } from "../client.js";
import type { RecordedEvent } from "../types.js";
import { startServer, type ServerProcess } from "./server-process.js";
import type { AggregateType, DomainEvent, EventFilter, EventSnapshot, EventStoreConfig, EventStoreStats } from "./types.js";

const DEFAULTS: EventStoreConfig = {
  databasePath: ":memory:",
  verbose: false,
  autoPersistInterval: 5000,
  snapshotThreshold: 100,
};

/** The most streams `GET /v1/stats` lists; past it, `getStats` counts by reading the log. */
const STATS_TOP = 1000;

/** The seed's event store, on annal. */
export class EventStore extends EventEmitter {
  readonly config: EventStoreConfig;
  #client: AnnalClient | undefined;
  #server: ServerProcess | undefined;
  #tempDir: string | undefined;
  #location: string | undefined;
  #starting: Promise<void> | undefined;

  constructor(config: Partial<EventStoreConfig> = {}) {
    super();
    this.config = { ...DEFAULTS, ...config };
  }

  /** Connects (or starts the private server); idempotent. Emits `initialized`. */
  initialize(): Promise<void> {
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    let url = this.config.url;
    if (url === undefined) {
      let store = this.config.databasePath;
      if (store === ":memory:") {
        this.#tempDir = await mkdtemp(join(tmpdir(), "annal-eventstore-"));
        store = join(this.#tempDir, "events.db");
      }
      this.#location = store;
      this.#server = await startServer({ bin: this.config.annalBin, store, verbose: this.config.verbose });
      this.#server.child.once("exit", (code, signal) => this.#lost(code, signal));
      url = this.#server.url;
    }
    const client = new AnnalClient({ url, token: this.config.token });
    try {
      await client.head();
    } catch (error) {
      await this.#release();
      throw error;
    }
    this.#client = client;
    if (this.config.verbose) console.log(`[EventStore] connected to annal at ${url}`);
    this.emit("initialized");
  }

  #lost(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#client === undefined || this.listenerCount("error") === 0) return;
    const error = new Error(`the private annal server exited (${signal ?? `code ${code}`})`);
    this.emit("error", { operation: "server", error });
  }

  /** Stops the private server (removing a temporary store); a no-op when not initialized. */
  async shutdown(): Promise<void> {
    if (this.#starting === undefined) return;
    await this.#starting.catch(() => undefined);
    await this.persist();
    this.#client = undefined;
    this.#starting = undefined;
    await this.#release();
    this.emit("shutdown");
  }

  /** Stops the private server and removes a temporary store. */
  async #release(): Promise<void> {
    await this.#server?.stop();
    this.#server = undefined;
    if (this.#tempDir !== undefined) await rm(this.#tempDir, { recursive: true, force: true });
    this.#tempDir = undefined;
    this.#location = undefined;
  }

  /**
   * Nothing to write: annal acknowledges an append only once it is durable. Emits
   * `persisted` for a file path, as the seed did, so its listeners keep working.
   */
  async persist(): Promise<void> {
    if (this.#client === undefined || this.config.databasePath === ":memory:" || this.config.url !== undefined) return;
    const stats = await this.#client.stats({ top: 0 });
    this.emit("persisted", { size: stats.bytesOnDisk ?? 0, path: this.config.databasePath });
  }

  /**
   * Appends one event and sets `event.version` to its version in its aggregate. The event's
   * id makes the append idempotent: appending the same event again answers the original
   * version; an id already used by another event throws `DuplicateEventIdError`.
   */
  async append(event: DomainEvent): Promise<void> {
    const client = this.#ready();
    const result = await client.append(event.aggregateId, {
      id: event.id,
      type: event.type,
      aggregateType: event.aggregateType,
      timestamp: event.timestamp,
      source: event.source,
      payload: event.payload,
      metadata: event.metadata ?? null,
      causationId: event.causationId ?? null,
      correlationId: event.correlationId ?? null,
    });
    const version = result.streamVersion;
    event.version = version;
    this.emit("event:appended", event);
    if (version % this.config.snapshotThreshold === 0) {
      this.emit("snapshot:recommended", { aggregateId: event.aggregateId, version });
    }
  }

  /** The aggregate's events, by version, from `fromVersion` (inclusive). */
  async getEvents(aggregateId: string, fromVersion?: number): Promise<DomainEvent[]> {
    const events = this.#ready().readStream(aggregateId, { from: fromVersion, allowMissing: true });
    return collect(events);
  }

  /** The events of one type, in commit order. */
  async getEventsByType(type: string): Promise<DomainEvent[]> {
    return collect(this.#ready().query({ types: [type] }));
  }

  /**
   * The events matching every given field, in commit order; `afterTimestamp` and
   * `beforeTimestamp` are exclusive, `limit: 0` means no limit.
   */
  async query(filter: EventFilter): Promise<DomainEvent[]> {
    const client = this.#ready();
    const limit = filter.limit ? filter.limit : undefined;
    const offset = filter.offset ? filter.offset : undefined;
    const fromVersion = filter.fromVersion;
    const versioned = fromVersion !== undefined && fromVersion > 1;
    const events = client.query({
      streams: filter.aggregateIds,
      aggregateTypes: filter.aggregateTypes,
      types: filter.eventTypes,
      since: filter.afterTimestamp !== undefined ? Math.floor(filter.afterTimestamp) + 1 : undefined,
      until: filter.beforeTimestamp,
      limit: versioned ? undefined : limit,
      offset: versioned ? undefined : offset,
    });
    if (!versioned) return collect(events);
    const matching: DomainEvent[] = [];
    for await (const event of events) {
      if (event.version >= fromVersion) matching.push(toDomainEvent(event));
    }
    const start = offset ?? 0;
    return matching.slice(start, limit === undefined ? undefined : start + limit);
  }

  /** Every event from global position `fromPosition` (inclusive), in commit order. */
  async *replay(fromPosition = 0): AsyncGenerator<DomainEvent, void, undefined> {
    for await (const event of this.#ready().readAll({ from: fromPosition })) {
      yield toDomainEvent(event);
    }
  }

  /** Saves a snapshot; throws `SnapshotStaleError` if a newer one is stored, and
   * `SnapshotAheadOfStreamError` if the aggregate has fewer events than its version. */
  async saveSnapshot(snapshot: EventSnapshot): Promise<void> {
    await this.#ready().saveSnapshot(snapshot.aggregateId, {
      version: snapshot.version,
      state: snapshot.state,
      aggregateType: snapshot.aggregateType,
    });
    this.emit("snapshot:saved", snapshot);
  }

  /** The aggregate's newest snapshot, or `null`. */
  async getSnapshot(aggregateId: string): Promise<EventSnapshot | null> {
    const snapshot = await this.#ready().getSnapshot(aggregateId);
    if (snapshot === null) return null;
    return {
      aggregateId: snapshot.aggregateId,
      aggregateType: snapshot.aggregateType as AggregateType,
      version: snapshot.version,
      state: snapshot.state,
      timestamp: snapshot.timestamp,
    };
  }

  /** Counts over the store (every field counted, unlike the seed's). */
  async getStats(): Promise<EventStoreStats> {
    const client = this.#ready();
    const stats = await client.stats({ top: STATS_TOP });
    const eventsByAggregate: Record<string, number> = {};
    if (stats.streamCount <= stats.topStreams.length) {
      for (const { stream, events } of stats.topStreams) eventsByAggregate[stream] = events;
    } else {
      for await (const event of client.readAll()) {
        eventsByAggregate[event.aggregateId] = (eventsByAggregate[event.aggregateId] ?? 0) + 1;
      }
    }
    return {
      totalEvents: stats.totalEvents,
      eventsByType: stats.eventsByType,
      eventsByAggregate,
      oldestEvent: stats.oldestTimestamp ?? null,
      newestEvent: stats.newestTimestamp ?? null,
      snapshotCount: stats.snapshotCount,
    };
  }

  /** The annal store the private server runs on (a temporary one for `':memory:'`); none with `url`. */
  get storeLocation(): string | undefined {
    return this.#location;
  }

  /** The underlying client, for everything the seed's API lacks (subscriptions, ...). */
  get client(): AnnalClient {
    return this.#ready();
  }

  #ready(): AnnalClient {
    if (this.#client === undefined) throw new Error("EventStore not initialized. Call initialize() first.");
    return this.#client;
  }
}

/** The seed's envelope of a stored event (absent causation and correlation ids left out). */
export function toDomainEvent(event: RecordedEvent): DomainEvent {
  const domainEvent: DomainEvent = {
    id: event.id,
    type: event.type,
    aggregateId: event.aggregateId,
    aggregateType: event.aggregateType as AggregateType,
    version: event.version,
    timestamp: event.timestamp,
    source: event.source,
    payload: event.payload,
    metadata: event.metadata,
  };
  if (event.causationId != null) domainEvent.causationId = event.causationId;
  if (event.correlationId != null) domainEvent.correlationId = event.correlationId;
  return domainEvent;
}

async function collect(events: AsyncIterable<RecordedEvent>): Promise<DomainEvent[]> {
  const out: DomainEvent[] = [];
  for await (const event of events) out.push(toDomainEvent(event));
  return out;
}
