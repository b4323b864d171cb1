/**
 * Test helpers: where the `annal` binary is, tokens, private servers, and
 * unique names so tests sharing one server never see each other's streams.
 */

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { startServer, type ServerProcess } from "../src/seed/server-process.js";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

/** What the global setup shares with every test file. */
export interface SharedServer {
  url: string;
  bin: string;
  adminToken: string;
  readToken: string;
  appendToken: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    annal: SharedServer;
  }
}

/** The workspace's debug binary, or `ANNAL_BIN`. */
export function annalBin(): string {
  if (process.env["ANNAL_BIN"]) return process.env["ANNAL_BIN"];
  const target = process.env["CARGO_TARGET_DIR"] ?? resolve(here, "../../../target");
  return join(resolve(here, "../../..", target), "debug", "annal");
}

/** Creates a token with `scopes` in the store's token file and answers its secret. */
export async function createToken(bin: string, store: string, scopes: string, streams?: string): Promise<string> {
  const args = ["--store", store, "--json", "token", "create", "--scope", scopes, "--name", `test ${scopes}`];
  if (streams !== undefined) args.push("--streams", streams);
  const { stdout } = await run(bin, args);
  return (JSON.parse(stdout) as { secret: string }).secret;
}

/** A fresh store in a temporary directory, removed by `cleanup`. */
export async function tempStore(): Promise<{ dir: string; store: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "annal-client-test-"));
  return { dir, store: join(dir, "store.db"), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A private server on a fresh store, for tests that stop it or change the whole store. */
export async function privateServer(
  bin: string,
): Promise<{ server: ServerProcess; store: string; stop: () => Promise<void> }> {
  const { store, cleanup } = await tempStore();
  const server = await startServer({ bin, store });
  return {
    server,
    store,
    stop: async () => {
      await server.stop();
      await cleanup();
    },
  };
}

/** A name no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Every value of an async iterable. */
export async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}
