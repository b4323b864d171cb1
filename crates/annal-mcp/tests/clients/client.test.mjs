// Goal: the official TypeScript MCP SDK, a client no one here wrote, works with annal over
// both transports: it lists the tools and calls every one with good and bad arguments
// (calls.json), on SQLite and NDJSON stores, over stdio (`annal mcp`) and over streamable
// HTTP (`/mcp` of `annal serve`); a read-only `annal mcp` lists only the reading tools.
// Method: the SDK's transports spawn or reach the annal binary named by ANNAL_BIN on a fresh
// store per run.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const annal = process.env.ANNAL_BIN;
const calls = JSON.parse(readFileSync(new URL("./calls.json", import.meta.url), "utf8"));

async function connect(store, allowWrites) {
  const args = ["--store", store, "mcp"];
  if (allowWrites) args.push("--allow-writes");
  const transport = new StdioClientTransport({ command: annal, args, stderr: "pipe" });
  const client = new Client({ name: "annal-client-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

/** Starts `annal serve` on a free loopback port; resolves to its /mcp URL and the process. */
async function serve(store) {
  const child = spawn(annal, ["--store", store, "--json", "serve", "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const [first] = await Promise.race([
    (async () => {
      for await (const line of lines) return [line];
      return [null];
    })(),
    // Unref'd: a pending timer would keep the test process alive for its full 30 s.
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error("annal serve did not start")), 30000).unref(),
    ),
  ]);
  assert.ok(first, "annal serve printed where it listens");
  return { url: `${JSON.parse(first).listening}/mcp`, child };
}

async function stop(child) {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

function at(value, path) {
  return path.split(".").reduce((v, key) => (v == null ? undefined : v[key]), value);
}

function resolve(value, saved) {
  if (typeof value === "string" && value.startsWith("$")) return saved[value.slice(1)];
  if (Array.isArray(value)) return value.map((v) => resolve(v, saved));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, saved)]));
  }
  return value;
}

async function runSteps(client) {
  const saved = {};
  for (const step of calls.steps) {
    const args = resolve(step.args, saved);
    const label = `${step.tool} ${JSON.stringify(args)}`;
    const result = await client.callTool({ name: step.tool, arguments: args });
    assert.equal(Boolean(result.isError), step.isError, `${label}: ${JSON.stringify(result)}`);
    assert.equal(result.content[0].type, "text", label);
    const answer = result.structuredContent;
    if (!step.isError || Object.keys(step.expect).length > 0) {
      assert.ok(answer, `${label}: structured content`);
    }
    for (const [path, expected] of Object.entries(resolve(step.expect, saved))) {
      assert.deepEqual(at(answer, path), expected, `${label}: ${path} in ${JSON.stringify(answer)}`);
    }
    for (const [name, path] of Object.entries(step.save)) saved[name] = at(answer, path);
  }
}

for (const backend of ["sqlite", "ndjson"]) {
  test(`every tool with good and bad arguments on ${backend}`, async () => {
    assert.ok(annal, "ANNAL_BIN names the annal binary");
    const dir = mkdtempSync(join(tmpdir(), "annal-ts-"));
    const store = backend === "sqlite" ? join(dir, "annal.db") : `ndjson:${join(dir, "ledger")}`;
    const client = await connect(store, true);
    try {
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name).sort();
      assert.deepEqual(names, [...calls.readTools, ...calls.writeTools].sort());
      for (const tool of tools) {
        assert.equal(tool.inputSchema.type, "object", tool.name);
        assert.ok(tool.description.length > 20, tool.name);
      }
      await runSteps(client);
    } finally {
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const backend of ["sqlite", "ndjson"]) {
  test(`every tool over streamable HTTP (annal serve /mcp) on ${backend}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "annal-ts-"));
    const store = backend === "sqlite" ? join(dir, "annal.db") : `ndjson:${join(dir, "ledger")}`;
    const { url, child } = await serve(store);
    const client = new Client({ name: "annal-client-test", version: "1.0.0" });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), [...calls.readTools, ...calls.writeTools].sort());
      await runSteps(client);
    } finally {
      await client.close();
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a read-only server lists only the reading tools", async () => {
  const dir = mkdtempSync(join(tmpdir(), "annal-ts-"));
  const store = join(dir, "annal.db");
  const writer = await connect(store, true);
  await writer.callTool({ name: "swarm_init", arguments: {} });
  await writer.close();
  const client = await connect(store, false);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), calls.readTools);
    const status = await client.callTool({ name: "swarm_status", arguments: {} });
    assert.equal(status.structuredContent.topology, "mesh");
    const refused = await client.callTool({ name: "swarm_init", arguments: {} });
    assert.equal(refused.isError, true);
    assert.equal(refused.structuredContent.error, "read_only");
  } finally {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
