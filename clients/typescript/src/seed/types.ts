/**
 * The seed event store's public types (`DomainEvent`, `EventFilter`,
 * `EventSnapshot`, `EventStoreStats`, `EventStoreConfig`), kept
 * field-for-field so code written against the seed compiles unchanged.
 */

/** The four aggregate types of the swarm domain. */
export type AggregateType = "agent" | "task" | "memory" | "swarm";

/** An agent id. */
export type AgentId = string;
/** A task id. */
export type TaskId = string;

/** An event of the swarm domain, as the seed's store took and returned it. */
export interface DomainEvent<P extends Record<string, unknown> = Record<string, unknown>> {
  id: string;
  type: string;
  aggregateId: string;
  aggregateType: AggregateType;
  /** The event's version in its aggregate; `append` sets it. */
  version: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  source: AgentId | "swarm";
  payload: P;
  metadata?: Record<string, unknown>;
  causationId?: string;
  correlationId?: string;
}

/** The seed's query filter. */
export interface EventFilter {
  aggregateIds?: string[];
  aggregateTypes?: AggregateType[];
  eventTypes?: string[];
  /** Only events after this time (exclusive). */
  afterTimestamp?: number;
  /** Only events before this time (exclusive). */
  beforeTimestamp?: number;
  /** Only events whose version in their aggregate is at least this. */
  fromVersion?: number;
  limit?: number;
  offset?: number;
}

/** A snapshot of one aggregate's state at a version. */
export interface EventSnapshot {
  aggregateId: string;
  aggregateType: AggregateType;
  version: number;
  state: Record<string, unknown>;
  timestamp: number;
}

/** Counts over the store. */
export interface EventStoreStats {
  totalEvents: number;
  eventsByType: Record<string, number>;
  eventsByAggregate: Record<string, number>;
  oldestEvent: number | null;
  newestEvent: number | null;
  snapshotCount: number;
}

/** The seed's configuration, plus how to reach annal. */
export interface EventStoreConfig {
  /** An annal store path for a private server; `':memory:'` (the default) for a temporary one. */
  databasePath: string;
  /** Log the private server's output to the console. */
  verbose: boolean;
  /** Accepted for compatibility; unused, since every append is durable once acknowledged. */
  autoPersistInterval: number;
  /** `snapshot:recommended` is emitted when an aggregate's version is a multiple of this. */
  snapshotThreshold: number;
  /** Accepted for compatibility; unused. */
  wasmPath?: string;
  /** A running annal server's URL; when set, no private server is started. */
  url?: string;
  /** The bearer token for `url`. */
  token?: string;
  /** The `annal` binary for a private server (default: `ANNAL_BIN`, then `annal` on `PATH`). */
  annalBin?: string;
}
