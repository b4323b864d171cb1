/**
 * The swarm domain's answers: the three projections and the run ledger.
 *
 * The OpenAPI document describes these answers only as JSON objects, so their
 * shapes are written here, mirroring annal-swarm's serialized types
 * (`projections::{Agent, Task, Memory}`, `ledger::{RunEvent, ...}`). Unknown
 * members the server adds later stay reachable through the index signatures.
 */

/** An agent's status. */
export type AgentStatus = "idle" | "active" | "blocked" | "completed" | "error";
/** A task's status. */
export type TaskStatus =
  | "pending"
  | "queued"
  | "assigned"
  | "in-progress"
  | "blocked"
  | "completed"
  | "failed"
  | "cancelled";

/** One agent of the agent-state projection. */
export interface Agent {
  id: string;
  role: string;
  domain: string;
  capabilities: string[];
  status: AgentStatus;
  currentTask: string | null;
  completedTasks: string[];
  failedTasks: string[];
  totalTaskDurationMs: number;
  errorCount: number;
  spawnedAt: number;
  startedAt: number | null;
  stoppedAt: number | null;
  lastActivityAt: number;
  [member: string]: unknown;
}

/** One task of the task-history projection. */
export interface Task {
  id: string;
  taskType: string;
  title: string;
  description: string;
  priority: string;
  status: TaskStatus;
  assignedAgent: string | null;
  dependencies: string[];
  blockedBy: string[];
  createdAt: number;
  queuedAt: number | null;
  startedAt: number | null;
  completedAt: number | null;
  failedAt: number | null;
  durationMs: number | null;
  result?: unknown;
  error: string | null;
  retryCount: number;
  [member: string]: unknown;
}

/** One entry of the memory-index projection. */
export interface Memory {
  id: string;
  namespace: string;
  key: string;
  memoryType: string;
  size: number;
  accessCount: number;
  storedAt: number;
  lastAccessedAt: number;
  status: "active" | "deleted" | "expired";
  deletedAt: number | null;
  expiredAt: number | null;
  expiresAt: number | null;
  [member: string]: unknown;
}

/** Narrowing of `agents()`. */
export interface AgentsQuery {
  status?: AgentStatus | undefined;
  domain?: string | undefined;
  limit?: number | undefined;
}

/** `GET /v1/projections/agents`; `checkpoint` is the last position folded in. */
export interface AgentsAnswer {
  agents: Agent[];
  activeCount: number;
  checkpoint: number;
}

/** Narrowing of `tasks()`. */
export interface TasksQuery {
  status?: TaskStatus | undefined;
  agent?: string | undefined;
  priority?: string | undefined;
  blocked?: boolean | undefined;
  limit?: number | undefined;
}

/** `GET /v1/projections/tasks`. */
export interface TasksAnswer {
  tasks: Task[];
  averageDurationMs: number;
  successRate: number;
  failureRate: number;
  checkpoint: number;
}

/** Narrowing of `memory()`: one namespace, or the `top` most read. */
export interface MemoryQuery {
  namespace?: string | undefined;
  top?: number | undefined;
}

/** `GET /v1/projections/memory`. */
export interface MemoryAnswer {
  memories: Memory[];
  sizeByNamespace: Record<string, number>;
  checkpoint: number;
}

/** What a task set out to do. */
export type TaskIntent =
  | "bug-fix"
  | "feature"
  | "refactor"
  | "security"
  | "performance"
  | "testing"
  | "docs"
  | "deployment"
  | "architecture"
  | "debug"
  | "general";

/** A rule broken during a run. */
export interface Violation {
  ruleId: string;
  description: string;
  severity: "critical" | "high" | "medium" | "low" | "info";
  location?: string;
  autoCorrected: boolean;
}

/** One run of the run ledger. */
export interface RunEvent {
  eventId: string;
  taskId: string;
  guidanceHash: string;
  retrievedRuleIds: string[];
  toolsUsed: string[];
  filesTouched: string[];
  diffSummary: { linesAdded: number; linesRemoved: number; filesChanged: number };
  testResults: { ran: boolean; passed: number; failed: number; skipped: number };
  violations: Violation[];
  outcomeAccepted: boolean | null;
  reworkLines: number;
  intent: TaskIntent;
  timestamp: number;
  durationMs: number;
  sessionId?: string;
}

/** Selection of `listRuns()`: one of `task`, `since`/`until` (inclusive), or `recent`. */
export interface RunsQuery {
  task?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  recent?: number | undefined;
}

/** Metrics over runs. */
export interface OptimizationMetrics {
  violationRate: number;
  selfCorrectionRate: number;
  reworkLines: number;
  clarifyingQuestions: number;
  taskCount: number;
}

/** One rule's rank among violations. */
export interface ViolationRanking {
  ruleId: string;
  frequency: number;
  cost: number;
  score: number;
}
