/**
 * A private `annal serve` child process on a loopback port the system picks,
 * as the seed's embedded store was private to its instance.
 *
 * Invariant: `startServer` answers only once the server has printed the
 * address it listens on (so the first request cannot race its start), and the
 * child never outlives this process: it is stopped by `stop()`, or killed when
 * the process exits, and it does not keep the event loop alive on its own.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** No `annal` binary was found to start a private server. */
export class AnnalBinaryNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AnnalBinaryNotFoundError";
  }
}

/** The private server failed to start. */
export class ServerStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ServerStartError";
  }
}

/** A running server child process. */
export interface ServerProcess {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  url: string;
  child: ChildProcess;
  /** Stops it (SIGTERM, then SIGKILL after `graceMs`) and waits for it to exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** How to start a server. */
export interface StartOptions {
  /** The `annal` binary; `findAnnal()` when absent. */
  bin?: string | undefined;
  /** The store location (a file path, `ndjson:DIR`, ...). */
  store: string;
  /** The address to listen on (default `127.0.0.1:0`: a free port). */
  listen?: string | undefined;
  /** Extra arguments after `serve`. */
  args?: string[] | undefined;
  /** Copy the server's log to this process's standard error. */
  verbose?: boolean | undefined;
  /** How long to wait for the server to listen (default 30 s). */
  timeoutMs?: number | undefined;
}

/** The `annal` binary: `explicit`, else `ANNAL_BIN`, else `annal` on `PATH`. */
export function findAnnal(explicit?: string): string {
  const chosen = explicit ?? process.env["ANNAL_BIN"];
  if (chosen !== undefined && chosen !== "") {
    if (!executable(chosen)) {
      throw new AnnalBinaryNotFoundError(`the annal binary ${chosen} does not exist or is not executable`);
    }
    return chosen;
  }
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, process.platform === "win32" ? "annal.exe" : "annal");
    if (executable(candidate)) return candidate;
  }
  throw new AnnalBinaryNotFoundError(
    "no annal binary: install annal (cargo install annal-cli) or set ANNAL_BIN to its path, " +
      "or give EventStore a { url } of a running annal server",
  );
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Starts `annal serve` and waits until it listens. */
export function startServer(options: StartOptions): Promise<ServerProcess> {
  const bin = options.bin ?? findAnnal();
  const args = ["--store", options.store, "--json", "serve", "--listen", options.listen ?? "127.0.0.1:0"];
  const child = spawn(bin, [...args, ...(options.args ?? [])], { stdio: ["ignore", "pipe", "pipe"] });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
    if (options.verbose) process.stderr.write(chunk);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  void exited.then(() => process.removeListener("exit", killOnExit));
  const stop = async (signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return new Promise<ServerProcess>((resolve, reject) => {
    let stdout = "";
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new ServerStartError(`annal serve (${bin}) ${why}${stderr ? `:\n${stderr.trim()}` : ""}`));
    };
    const timer = setTimeout(() => fail("did not start listening in time"), options.timeoutMs ?? 30_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new AnnalBinaryNotFoundError(`cannot run ${bin}: ${error.message}`));
    });
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`exited (${signal ?? `code ${code}`}) before listening`);
    child.once("exit", onEarlyExit);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      stdout += chunk;
      const line = stdout.split("\n").find((candidate) => candidate.includes('"listening"'));
      if (line === undefined) return;
      let url: string;
      try {
        url = String((JSON.parse(line) as { listening: unknown }).listening);
      } catch {
        fail(`printed an unreadable address: ${line}`);
        return;
      }
      clearTimeout(timer);
      child.removeListener("exit", onEarlyExit);
      child.unref();
      for (const stream of [child.stdout, child.stderr]) {
        (stream as unknown as { unref?: () => void } | null)?.unref?.();
      }
      resolve({ url, child, stop });
    });
  });
}
