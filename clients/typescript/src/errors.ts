/**
 * Typed errors: one class per problem code the server answers (RFC 9457
 * `application/problem+json`, whose `code` names the problem), plus the
 * client's own failures (connection, protocol, abort).
 *
 * Invariant: every error this package throws for a server answer is an
 * `AnnalError` carrying the status, the stable `code` and the whole problem
 * object, so callers can branch on the class or on `code`.
 */

/** The problem object the server sends with every error. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  [member: string]: unknown;
}

/** Any error answered by the server; `code` is its stable machine code. */
export class AnnalError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.name = new.target.name;
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
  }
}

/** 409 `wrong-expected-version`: the stream is not where the caller expected. */
export class WrongExpectedVersionError extends AnnalError {
  /** The stream's actual version when the append was refused. */
  readonly actualVersion: number;
  readonly stream: string | undefined;
  constructor(problem: Problem) {
    super(problem);
    this.actualVersion = Number(problem["actualVersion"]);
    this.stream = typeof problem["stream"] === "string" ? problem["stream"] : undefined;
  }
}

/** 409 `duplicate-event-id`: an id is already stored, and not as this exact batch. */
export class DuplicateEventIdError extends AnnalError {
  readonly eventId: string | undefined;
  readonly storedIn: string | undefined;
  constructor(problem: Problem) {
    super(problem);
    this.eventId = optionalString(problem["eventId"]);
    this.storedIn = optionalString(problem["storedIn"]);
  }
}

/**
 * 400: a bad body field (`invalid-field`, `field` names it), query parameter
 * (`invalid-parameter`, `parameter`), JSON (`malformed-json`) or filter
 * (`invalid-filter`).
 */
export class InvalidRequestError extends AnnalError {
  readonly field: string | undefined;
  readonly parameter: string | undefined;
  constructor(problem: Problem) {
    super(problem);
    this.field = optionalString(problem["field"]);
    this.parameter = optionalString(problem["parameter"]);
  }
}

/** 413 `body-too-large`, `batch-too-large` or `event-too-large`. */
export class PayloadTooLargeError extends AnnalError {
  readonly limit: number | undefined;
  readonly field: string | undefined;
  constructor(problem: Problem) {
    super(problem);
    this.limit = typeof problem["limit"] === "number" ? problem["limit"] : undefined;
    this.field = optionalString(problem["field"]);
  }
}

/** 401 `unauthorized`: no token, or an unknown or revoked one. */
export class UnauthorizedError extends AnnalError {}

/** 403 `forbidden`: the token lacks the scope or the stream. */
export class ForbiddenError extends AnnalError {}

/** 404 `not-found`, `stream-not-found`, `event-not-found` or `snapshot-not-found`. */
export class NotFoundError extends AnnalError {}

/** 404 `stream-not-found`: the stream never held an event. */
export class StreamNotFoundError extends NotFoundError {}

/** 404 `event-not-found`: no event the caller may read has this id (`eventId`). */
export class EventNotFoundError extends NotFoundError {
  readonly eventId: string | undefined;
  constructor(problem: Problem) {
    super(problem);
    this.eventId = optionalString(problem["id"]);
  }
}

/** 409 `snapshot-stale`: a newer snapshot is stored (`storedVersion`). */
export class SnapshotStaleError extends AnnalError {
  readonly storedVersion: number;
  constructor(problem: Problem) {
    super(problem);
    this.storedVersion = Number(problem["storedVersion"]);
  }
}

/** 409 `snapshot-ahead-of-stream`: the snapshot's version is past the stream's (`actualVersion`). */
export class SnapshotAheadOfStreamError extends AnnalError {
  readonly actualVersion: number;
  constructor(problem: Problem) {
    super(problem);
    this.actualVersion = Number(problem["actualVersion"]);
  }
}

/** 409 `protected-by-snapshot`: truncation would remove events no snapshot covers. */
export class ProtectedBySnapshotError extends AnnalError {
  readonly snapshotVersion: number;
  constructor(problem: Problem) {
    super(problem);
    this.snapshotVersion = Number(problem["snapshotVersion"]);
  }
}

/** 503 `too-many-subscribers`, `store-unavailable` or `shutting-down`. */
export class UnavailableError extends AnnalError {}

/** 415 `unsupported-media-type`, 405 `method-not-allowed`, 500 `internal` and unknown codes. */
export class ServerError extends AnnalError {}

/** The server could not be reached, or the connection broke mid-answer. */
export class ConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** The server answered something that is not the API's (no problem object, bad JSON, a
 * number past `Number.MAX_SAFE_INTEGER`). */
export class ProtocolError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

type ProblemClass = new (problem: Problem) => AnnalError;

const BY_CODE: Record<string, ProblemClass> = {
  "wrong-expected-version": WrongExpectedVersionError,
  "duplicate-event-id": DuplicateEventIdError,
  "invalid-field": InvalidRequestError,
  "invalid-parameter": InvalidRequestError,
  "invalid-filter": InvalidRequestError,
  "malformed-json": InvalidRequestError,
  "body-too-large": PayloadTooLargeError,
  "batch-too-large": PayloadTooLargeError,
  "event-too-large": PayloadTooLargeError,
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  "not-found": NotFoundError,
  "stream-not-found": StreamNotFoundError,
  "event-not-found": EventNotFoundError,
  "snapshot-not-found": NotFoundError,
  "snapshot-stale": SnapshotStaleError,
  "snapshot-ahead-of-stream": SnapshotAheadOfStreamError,
  "protected-by-snapshot": ProtectedBySnapshotError,
  "too-many-subscribers": UnavailableError,
  "store-unavailable": UnavailableError,
  "shutting-down": UnavailableError,
};

/** The typed error for a problem object. */
export function errorFromProblem(problem: Problem): AnnalError {
  const Class = BY_CODE[problem.code] ?? ServerError;
  return new Class(problem);
}

/** A problem object for an error answer whose body is not one (a proxy's page, say). */
export function problemFromStatus(status: number, body: string): Problem {
  return {
    type: "about:blank",
    title: `HTTP ${status}`,
    status,
    code: CODE_BY_STATUS[status] ?? (status >= 500 ? "internal" : `http-${status}`),
    detail: body.slice(0, 200) || `HTTP ${status} without a problem body`,
  };
}

const CODE_BY_STATUS: Record<number, string> = {
  401: "unauthorized",
  403: "forbidden",
  404: "not-found",
  503: "store-unavailable",
};

function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
