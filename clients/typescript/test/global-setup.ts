/**
 * Starts one `annal serve` for the whole run, on a free loopback port with a
 * fresh store that has admin, read and append tokens, and stops it at the end.
 */

import type { TestProject } from "vitest/node";

import { startServer } from "../src/seed/server-process.js";
import { annalBin, createToken, tempStore } from "./annal.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = annalBin();
  const { store, cleanup } = await tempStore();
  const adminToken = await createToken(bin, store, "admin");
  const readToken = await createToken(bin, store, "read");
  const appendToken = await createToken(bin, store, "append");
  const server = await startServer({ bin, store });
  project.provide("annal", { url: server.url, bin, adminToken, readToken, appendToken });
  return async () => {
    await server.stop();
    await cleanup();
  };
}
