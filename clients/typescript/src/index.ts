/**
 * `@annal/client`: the TypeScript client of annal's HTTP API (`annal serve`).
 * Runs in Node 20+ and in browsers. The seed-compatible `EventStore` and its
 * projections live in the `@annal/client/seed` entry (Node only).
 */

export { AnnalClient, newId, type AppendOptions, type ClientOptions } from "./client.js";
export type { ReadStreamOptions, QueryOptions } from "./reads.js";
export type { ListStreamsOptions } from "./stream-list.js";
export type { SubscribeOptions } from "./subscribe.js";
export * from "./errors.js";
export type * from "./types.js";
export type * from "./domain.js";
export type { paths, components, operations } from "./openapi.js";
