/**
 * `@annal/client/seed`: the seed event store's API on annal (Node only):
 * `EventStore`, the three projections, the 23 event factories and the types.
 * Switching from the seed is changing the import to this module.
 */

export { EventStore, toDomainEvent } from "./event-store.js";
export * from "./projections.js";
export * from "./domain-events.js";
export type * from "./types.js";
export { AnnalBinaryNotFoundError, ServerStartError, findAnnal, startServer, type ServerProcess, type StartOptions } from "./server-process.js";
export * from "../errors.js";
