/**
 * The transport: one `fetch` per request, with the bearer token, cancellation,
 * JSON bodies, problem+json errors turned into typed errors, and retries of
 * requests that are safe to repeat.
 *
 * Invariant: a request is repeated only when repeating it cannot change the
 * outcome: reads, and appends whose every event carries a client-chosen id
 * (the server answers a retried batch with the original result).
 */

import { ConnectionError, ProtocolError, errorFromProblem, problemFromStatus, type Problem } from "./errors.js";

/** How the client reaches the server. */
export interface TransportOptions {
  /** The server's base URL, such as `http://127.0.0.1:7070`. */
  url: string;
  /** A bearer token (`annal token create`); none for a server without tokens. */
  token?: string | undefined;
  /** Attempts for a request that failed to connect (default 5); each waits longer. */
  retries?: number | undefined;
  /** The first wait before a retry, in ms (default 50); doubled each time, at most 2 s. */
  retryDelayMs?: number | undefined;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch | undefined;
}

/** One request. */
export interface Request {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
  /** Repeat on a connection failure (the request must be idempotent). */
  retry: boolean;
  signal?: AbortSignal | undefined;
}

const MAX_DELAY_MS = 2000;

/** Sends requests to one server. */
export class Transport {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: TransportOptions) {
    if (typeof options.url !== "string" || options.url === "") {
      throw new TypeError("AnnalClient needs the server's url, such as http://127.0.0.1:7070");
    }
    this.baseUrl = options.url.replace(/\/+$/, "");
    this.#token = options.token;
    this.#retries = options.retries ?? 5;
    this.#retryDelayMs = options.retryDelayMs ?? 50;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The full URL of `path` with `query` (undefined values left out). */
  url(path: string, query?: Request["query"]): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /** Headers every request carries. */
  headers(extra?: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    if (this.#token !== undefined) headers["authorization"] = `Bearer ${this.#token}`;
    return headers;
  }

  /** One `fetch` of `path`, without retries or status checks (for streaming answers). */
  fetchOnce(path: string, query: Request["query"], init: RequestInit): Promise<Response> {
    return this.#fetch(this.url(path, query), init);
  }

  /** Sends `request` and answers the parsed JSON body; an error answer throws its typed error. */
  async json<T>(request: Request): Promise<T> {
    const response = await this.send(request);
    const text = await readText(response, request.signal);
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new ProtocolError(`${request.method} ${request.path}: the answer is not JSON`, { cause });
    }
  }

  /** Sends `request` and answers the response once its status is a success. */
  async send(request: Request): Promise<Response> {
    const attempts = request.retry ? this.#retries + 1 : 1;
    let delay = this.#retryDelayMs;
    for (let attempt = 1; ; attempt++) {
      request.signal?.throwIfAborted();
      let response: Response;
      try {
        response = await this.#fetch(this.url(request.path, request.query), {
          method: request.method,
          headers: this.headers({
            ...(request.body === undefined ? {} : { "content-type": "application/json" }),
            ...request.headers,
          }),
          body: request.body === undefined ? null : JSON.stringify(request.body),
          signal: request.signal ?? null,
        });
      } catch (cause) {
        if (request.signal?.aborted) throw request.signal.reason;
        if (attempt >= attempts) {
          throw new ConnectionError(`${request.method} ${request.path}: cannot reach ${this.baseUrl}`, { cause });
        }
        await sleep(delay, request.signal);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
        continue;
      }
      if (response.ok) return response;
      throw await errorOf(response, request.signal);
    }
  }
}

/** The typed error of an error answer. */
export async function errorOf(response: Response, signal?: AbortSignal): Promise<Error> {
  const text = await readText(response, signal);
  let problem: Problem | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (isProblem(parsed)) problem = parsed;
  } catch {
    problem = undefined;
  }
  return errorFromProblem(problem ?? problemFromStatus(response.status, text));
}

function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record["code"] === "string" && typeof record["status"] === "number";
}

async function readText(response: Response, signal?: AbortSignal): Promise<string> {
  try {
    return await response.text();
  } catch (cause) {
    if (signal?.aborted) throw signal.reason;
    throw new ConnectionError(`the connection broke while reading ${response.url}`, { cause });
  }
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
