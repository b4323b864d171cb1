/**
 * The seed's three projections, folded in the client from `replay()`:
 * `AgentStateProjection`, `TaskHistoryProjection`, `MemoryIndexProjection`,
 * with the seed's getters and notifications.
 *
 * Invariant: a projection folds each event once, in position (commit) order;
 * `reset()` empties it and lets a later `initialize()` fold again (the seed's
 * reset left it permanently empty). Times come from the event envelope.
 */

import { EventEmitter } from "node:events";

import type { AgentId, DomainEvent, TaskId } from "./types.js";

/** What a projection needs from a store: a replay of every event. */
export interface Replayable {
  replay(fromPosition?: number): AsyncIterable<DomainEvent>;
}

type Handler = (event: DomainEvent, payload: Record<string, unknown>) => void;

/** Folds events into state; subclasses say how per event type. */
export abstract class Projection extends EventEmitter {
  #initialized = false;
  protected readonly store: Replayable;

  constructor(store: Replayable) {
    super();
    this.store = store;
  }

  /** Folds every stored event (once; a second call does nothing until `reset()`). */
  async initialize(): Promise<void> {
    if (this.#initialized) return;
    for await (const event of this.store.replay()) {
      await this.handle(event);
    }
    this.#initialized = true;
    this.emit("initialized");
  }

  /** Folds one event; types of other projections are ignored. */
  async handle(event: DomainEvent): Promise<void> {
    const handler = this.handlers()[event.type];
    if (handler !== undefined) handler(event, event.payload);
  }

  /** Empties the state; the next `initialize()` folds the store again. */
  reset(): void {
    this.clear();
    this.#initialized = false;
    this.emit("reset");
  }

  protected abstract handlers(): Record<string, Handler>;
  protected abstract clear(): void;
}

/** The status of an agent. */
export type AgentStatus = "idle" | "active" | "blocked" | "completed" | "error";

/** One agent as the projection sees it. */
export interface AgentProjectionState {
  id: AgentId;
  role: string;
  domain: string;
  status: AgentStatus;
  currentTask: TaskId | null;
  completedTasks: TaskId[];
  failedTasks: TaskId[];
  totalTaskDuration: number;
  taskCount: number;
  errorCount: number;
  spawnedAt: number;
  startedAt: number | null;
  stoppedAt: number | null;
  lastActivityAt: number;
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");
const num = (value: unknown): number => (typeof value === "number" ? value : 0);

/** Agents: role, status, current and completed tasks. */
export class AgentStateProjection extends Projection {
  #agents = new Map<AgentId, AgentProjectionState>();

  getAgent(id: AgentId): AgentProjectionState | null {
    return this.#agents.get(id) ?? null;
  }
  getAllAgents(): AgentProjectionState[] {
    return [...this.#agents.values()];
  }
  getAgentsByStatus(status: AgentStatus): AgentProjectionState[] {
    return this.getAllAgents().filter((agent) => agent.status === status);
  }
  getAgentsByDomain(domain: string): AgentProjectionState[] {
    return this.getAllAgents().filter((agent) => agent.domain === domain);
  }
  getActiveAgentCount(): number {
    return this.getAgentsByStatus("active").length;
  }

  protected clear(): void {
    this.#agents.clear();
  }

  protected handlers(): Record<string, Handler> {
    const touch = (event: DomainEvent, payload: Record<string, unknown>, change: (agent: AgentProjectionState) => void) => {
      const agentId = text(payload["agentId"]);
      const agent = this.#agents.get(agentId);
      if (agent === undefined) return;
      change(agent);
      agent.lastActivityAt = event.timestamp;
      this.emit(event.type, { agentId, status: agent.status });
    };
    return {
      "agent:spawned": (event, payload) => {
        const agentId = text(payload["agentId"]);
        this.#agents.set(agentId, {
          id: agentId,
          role: text(payload["role"]),
          domain: text(payload["domain"]),
          status: "idle",
          currentTask: null,
          completedTasks: [],
          failedTasks: [],
          totalTaskDuration: 0,
          taskCount: 0,
          errorCount: 0,
          spawnedAt: event.timestamp,
          startedAt: null,
          stoppedAt: null,
          lastActivityAt: event.timestamp,
        });
        this.emit(event.type, { agentId });
      },
      "agent:started": (e, p) => touch(e, p, (a) => ((a.status = "active"), (a.startedAt = e.timestamp))),
      "agent:stopped": (e, p) => touch(e, p, (a) => ((a.status = "completed"), (a.stoppedAt = e.timestamp))),
      "agent:failed": (e, p) => touch(e, p, (a) => ((a.status = "error"), (a.errorCount += 1))),
      "agent:status-changed": (e, p) => touch(e, p, (a) => (a.status = text(p["newStatus"]) as AgentStatus)),
      "agent:task-assigned": (e, p) =>
        touch(e, p, (a) => ((a.currentTask = text(p["taskId"])), (a.status = "active"))),
      "agent:task-completed": (e, p) =>
        touch(e, p, (a) => {
          a.completedTasks.push(text(p["taskId"]));
          a.currentTask = null;
          a.taskCount += 1;
          a.totalTaskDuration += num(p["duration"]);
          a.status = "idle";
        }),
    };
  }
}

/** The status of a task. */
export type TaskStatus =
  | "pending"
  | "queued"
  | "assigned"
  | "in-progress"
  | "blocked"
  | "completed"
  | "failed"
  | "cancelled";

/** One task as the projection sees it. */
export interface TaskProjectionState {
  id: TaskId;
  type: string;
  title: string;
  status: TaskStatus;
  priority: string;
  assignedAgent: AgentId | null;
  dependencies: TaskId[];
  blockedBy: TaskId[];
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  failedAt: number | null;
  duration: number | null;
  result: unknown;
  error: string | null;
  retryCount: number;
}

/** Tasks: status, assignment, duration, result. */
export class TaskHistoryProjection extends Projection {
  #tasks = new Map<TaskId, TaskProjectionState>();

  getTask(id: TaskId): TaskProjectionState | null {
    return this.#tasks.get(id) ?? null;
  }
  getAllTasks(): TaskProjectionState[] {
    return [...this.#tasks.values()];
  }
  getTasksByStatus(status: TaskStatus): TaskProjectionState[] {
    return this.getAllTasks().filter((task) => task.status === status);
  }
  getTasksByAgent(agentId: AgentId): TaskProjectionState[] {
    return this.getAllTasks().filter((task) => task.assignedAgent === agentId);
  }
  getCompletedTaskCount(): number {
    return this.getTasksByStatus("completed").length;
  }
  /** The mean duration of completed tasks that have one; 0 when none does. */
  getAverageTaskDuration(): number {
    const durations = this.getTasksByStatus("completed")
      .map((task) => task.duration)
      .filter((duration): duration is number => duration !== null);
    if (durations.length === 0) return 0;
    return durations.reduce((sum, duration) => sum + duration, 0) / durations.length;
  }

  protected clear(): void {
    this.#tasks.clear();
  }

  protected handlers(): Record<string, Handler> {
    const touch = (event: DomainEvent, payload: Record<string, unknown>, change: (task: TaskProjectionState) => void) => {
      const taskId = text(payload["taskId"]);
      const task = this.#tasks.get(taskId);
      if (task === undefined) return;
      change(task);
      this.emit(event.type, { taskId, status: task.status });
    };
    return {
      "task:created": (event, payload) => {
        const taskId = text(payload["taskId"]);
        const dependencies = Array.isArray(payload["dependencies"]) ? (payload["dependencies"] as TaskId[]) : [];
        this.#tasks.set(taskId, {
          id: taskId,
          type: text(payload["taskType"]),
          title: text(payload["title"]),
          status: "pending",
          priority: text(payload["priority"]),
          assignedAgent: null,
          dependencies,
          blockedBy: [],
          createdAt: event.timestamp,
          startedAt: null,
          completedAt: null,
          failedAt: null,
          duration: null,
          result: null,
          error: null,
          retryCount: 0,
        });
        this.emit(event.type, { taskId });
      },
      "task:queued": (e, p) => touch(e, p, (t) => (t.status = "queued")),
      "task:started": (e, p) =>
        touch(e, p, (t) => {
          t.status = "in-progress";
          t.assignedAgent = text(p["agentId"]);
          t.startedAt = e.timestamp;
        }),
      "task:completed": (e, p) =>
        touch(e, p, (t) => {
          t.status = "completed";
          t.completedAt = e.timestamp;
          const given = p["duration"];
          t.duration = typeof given === "number" ? given : t.startedAt === null ? null : e.timestamp - t.startedAt;
          t.result = p["result"];
        }),
      "task:failed": (e, p) =>
        touch(e, p, (t) => {
          t.status = "failed";
          t.failedAt = e.timestamp;
          t.error = text(p["error"]);
          t.retryCount = num(p["retryCount"]);
        }),
      "task:blocked": (e, p) =>
        touch(e, p, (t) => {
          t.status = "blocked";
          t.blockedBy = Array.isArray(p["blockedBy"]) ? (p["blockedBy"] as TaskId[]) : [];
        }),
    };
  }
}

/** One memory entry as the projection sees it. */
export interface MemoryProjectionState {
  id: string;
  namespace: string;
  key: string;
  type: string;
  size: number;
  accessCount: number;
  storedAt: number;
  lastAccessedAt: number;
  deletedAt: number | null;
  isDeleted: boolean;
}

/** Memory entries: namespace, size, reads, deletion. */
export class MemoryIndexProjection extends Projection {
  #memories = new Map<string, MemoryProjectionState>();

  /** The entry, deleted or not. */
  getMemory(id: string): MemoryProjectionState | null {
    return this.#memories.get(id) ?? null;
  }
  getActiveMemories(): MemoryProjectionState[] {
    return [...this.#memories.values()].filter((memory) => !memory.isDeleted);
  }
  getMemoriesByNamespace(namespace: string): MemoryProjectionState[] {
    return this.getActiveMemories().filter((memory) => memory.namespace === namespace);
  }
  /** Active entries by access count, most read first (ties in insertion order). */
  getMostAccessedMemories(limit = 10): MemoryProjectionState[] {
    return this.getActiveMemories()
      .sort((a, b) => b.accessCount - a.accessCount)
      .slice(0, limit);
  }
  getTotalSizeByNamespace(namespace: string): number {
    return this.getMemoriesByNamespace(namespace).reduce((sum, memory) => sum + memory.size, 0);
  }

  protected clear(): void {
    this.#memories.clear();
  }

  protected handlers(): Record<string, Handler> {
    const remove = (event: DomainEvent, payload: Record<string, unknown>) => {
      const memoryId = text(payload["memoryId"]);
      const memory = this.#memories.get(memoryId);
      if (memory === undefined) return;
      memory.isDeleted = true;
      memory.deletedAt = event.timestamp;
      this.emit(event.type, { memoryId });
    };
    return {
      "memory:stored": (event, payload) => {
        const memoryId = text(payload["memoryId"]);
        this.#memories.set(memoryId, {
          id: memoryId,
          namespace: text(payload["namespace"]),
          key: text(payload["key"]),
          type: text(payload["memoryType"]),
          size: num(payload["size"]),
          accessCount: 0,
          storedAt: event.timestamp,
          lastAccessedAt: event.timestamp,
          deletedAt: null,
          isDeleted: false,
        });
        this.emit(event.type, { memoryId });
      },
      "memory:retrieved": (event, payload) => {
        const memoryId = text(payload["memoryId"]);
        const memory = this.#memories.get(memoryId);
        if (memory === undefined || memory.isDeleted) return;
        memory.accessCount = num(payload["accessCount"]);
        memory.lastAccessedAt = event.timestamp;
        this.emit(event.type, { memoryId });
      },
      "memory:deleted": remove,
      "memory:expired": remove,
    };
  }
}
