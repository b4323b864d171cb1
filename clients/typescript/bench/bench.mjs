// The client benchmark (`npm run bench`): single-event appends with 64 in flight, batch appends
// of 1,000, and readAll throughput through this package against `annal serve` on loopback,
// printed beside `annal bench`'s in-process figures for the same operations and the seed's
// figures on the same workload size, all measured in this one run on this machine.
//
// Environment: ANNAL_BIN (default: the workspace's release binary, else its debug one),
// BENCH_EVENTS (the `annal bench` workload size, default 10000: one of the sizes the seed
// was measured at). Prints a markdown table (BENCHMARKS.md, "TypeScript client").

import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { AnnalClient } from "../dist/index.js";
import { startServer } from "../dist/seed/index.js";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const IN_FLIGHT = 64;
const SINGLE_EVENTS = IN_FLIGHT * 250;
const BATCH = 1000;
const BATCHES = 20;
const READS = 5;

function annalBin() {
  if (process.env.ANNAL_BIN) return process.env.ANNAL_BIN;
  const target = resolve(root, process.env.CARGO_TARGET_DIR ?? "target");
  const release = join(target, "release", "annal");
  if (existsSync(release)) return release;
  console.error("bench: no release build (cargo build --release -p annal-cli); using the debug binary");
  return join(target, "debug", "annal");
}

/** CPU seconds (user + system) a process has used, from /proc (Linux); NaN elsewhere. */
function cpuOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Runs `work`, answering its wall time and the CPU seconds of the server and of this process. */
async function phase(pid, work) {
  const serverBefore = cpuOf(pid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const items = await work();
  const wall = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  return {
    items,
    wall,
    rate: items / wall,
    serverCpu: cpuOf(pid) - serverBefore,
    clientCpu: (client.user + client.system) / 1e6,
  };
}

const tick = (i) => ({ type: "bench:tick", payload: { i, note: "a small payload" } });

async function singles(client) {
  let next = 0;
  const worker = async (w) => {
    while (next < SINGLE_EVENTS) {
      const i = next++;
      await client.append(`bench-single-${w}`, tick(i));
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
  return SINGLE_EVENTS;
}

async function batches(client) {
  for (let b = 0; b < BATCHES; b++) {
    await client.append("bench-batch", Array.from({ length: BATCH }, (_, i) => tick(b * BATCH + i)));
  }
  return BATCH * BATCHES;
}

/** Reads the whole log READS times over (one pass is too short to time on its own). */
async function readAll(client) {
  let n = 0;
  for (let pass = 0; pass < READS; pass++) {
    for await (const _event of client.readAll({ pageSize: 5000 })) n++;
  }
  return n;
}

async function annalBench(bin, events) {
  const dir = await mkdtemp(join(tmpdir(), "annal-client-bench-"));
  try {
    const { stdout } = await run(bin, ["bench", "--events", String(events), "--one-at-a-time", "500", "--dir", dir, "--json"], {
      maxBuffer: 1 << 24,
    });
    const report = JSON.parse(stdout);
    return Object.fromEntries(report.figures.map((figure) => [figure.step, figure]));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rate = (value) => (Number.isFinite(value) ? `${Math.round(value).toLocaleString("en-US")}/s` : "");
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}` : "");
const seconds = (value) => (Number.isFinite(value) ? `${value.toFixed(1)} s` : "");

async function main() {
  const bin = annalBin();
  const events = Number(process.env.BENCH_EVENTS ?? 10000);
  const dir = await mkdtemp(join(tmpdir(), "annal-client-bench-"));
  const server = await startServer({ bin, store: join(dir, "served.db") });
  const pid = server.child.pid;
  const client = new AnnalClient({ url: server.url });
  let measured;
  try {
    measured = {
      singles: await phase(pid, () => singles(client)),
      batches: await phase(pid, () => batches(client)),
      readAll: await phase(pid, () => readAll(client)),
    };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const inProcess = await annalBench(bin, events);
  const pick = (step) => inProcess[step] ?? {};
  const rows = [
    ["append one event per call, 64 in flight", measured.singles, pick("append, 64 concurrent tasks"), pick("append one at a time").seed, "seed: one at a time, not durable"],
    ["append batches of 1,000, one call at a time", measured.batches, pick("append batches of 1,000, one stream"), undefined, ""],
    [`readAll (pages of 5,000), ${READS} passes`, measured.readAll, pick("full replay (median of 3)"), pick("full replay (median of 3)").seed, "seed: replay()"],
  ];
  console.log(`${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${bin}`);
  console.log(`annal bench --events ${events} in the same run; seed figures are annal bench's seed column at that size.\n`);
  console.log("| operation | client over HTTP | annal bench, in-process | client / in-process | seed | server CPU | client CPU | wall |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const [name, m, inproc, seed, seedNote] of rows) {
    const seedCell = Number.isFinite(seed) ? `${rate(seed)} (${seedNote})` : "";
    console.log(
      `| ${name} (${m.items.toLocaleString("en-US")}) | ${rate(m.rate)} | ${rate(inproc.value)} | ${ratio(m.rate, inproc.value)} | ${seedCell} | ${seconds(m.serverCpu)} | ${seconds(m.clientCpu)} | ${seconds(m.wall)} |`,
    );
  }
}

await main();
