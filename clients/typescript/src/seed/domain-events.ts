/**
 * The 23 event types of the swarm domain and a factory for each: the seed's
 * 16 factories with their signatures, and the 7 it lacked.
 *
 * Invariant: a factory's id is unique across processes (a random UUID after
 * the seed's `evt-<ms>-` prefix), unlike the seed's per-process counter whose
 * ids collided across restarts; `version` is a placeholder `append` replaces.
 */

import type { AggregateType, AgentId, DomainEvent, TaskId } from "./types.js";

/** Every event type of the swarm domain. */
export const EVENT_TYPES = [
  "agent:spawned",
  "agent:started",
  "agent:stopped",
  "agent:failed",
  "agent:status-changed",
  "agent:task-assigned",
  "agent:task-completed",
  "task:created",
  "task:started",
  "task:completed",
  "task:failed",
  "task:blocked",
  "task:queued",
  "memory:stored",
  "memory:retrieved",
  "memory:deleted",
  "memory:expired",
  "swarm:initialized",
  "swarm:scaled",
  "swarm:terminated",
  "swarm:phase-changed",
  "swarm:milestone-reached",
  "swarm:error",
] as const;

/** One of the 23 event types. */
export type EventType = (typeof EVENT_TYPES)[number];

function event<P extends Record<string, unknown>>(
  type: EventType,
  aggregateId: string,
  aggregateType: AggregateType,
  payload: P,
): DomainEvent<P> {
  return {
    id: `evt-${Date.now()}-${globalThis.crypto.randomUUID()}`,
    type,
    aggregateId,
    aggregateType,
    version: 1,
    timestamp: Date.now(),
    source: "swarm",
    payload,
  };
}

const now = (): number => Date.now();

export function createAgentSpawnedEvent(agentId: AgentId, role: string, domain: string, capabilities: string[]) {
  return event("agent:spawned", agentId, "agent", { agentId, role, domain, capabilities });
}

export function createAgentStartedEvent(agentId: AgentId) {
  return event("agent:started", agentId, "agent", { agentId, startedAt: now() });
}

export function createAgentStoppedEvent(agentId: AgentId, reason: string) {
  return event("agent:stopped", agentId, "agent", { agentId, reason, stoppedAt: now() });
}

export function createAgentFailedEvent(agentId: AgentId, error: Error) {
  return event("agent:failed", agentId, "agent", { agentId, error: error.message, stack: error.stack, failedAt: now() });
}

export function createAgentStatusChangedEvent(agentId: AgentId, previousStatus: string, newStatus: string) {
  return event("agent:status-changed", agentId, "agent", { agentId, previousStatus, newStatus });
}

export function createAgentTaskAssignedEvent(agentId: AgentId, taskId: TaskId, assignedAt: number = now()) {
  return event("agent:task-assigned", agentId, "agent", { agentId, taskId, assignedAt });
}

export function createAgentTaskCompletedEvent(
  agentId: AgentId,
  taskId: TaskId,
  result: unknown,
  completedAt: number,
  duration: number,
) {
  return event("agent:task-completed", agentId, "agent", { agentId, taskId, result, completedAt, duration });
}

export function createTaskCreatedEvent(
  taskId: TaskId,
  taskType: string,
  title: string,
  description: string,
  priority: string,
  dependencies: TaskId[],
) {
  return event("task:created", taskId, "task", {
    taskId,
    taskType,
    title,
    description,
    priority,
    dependencies,
    createdAt: now(),
  });
}

export function createTaskStartedEvent(taskId: TaskId, agentId: AgentId) {
  return event("task:started", taskId, "task", { taskId, agentId, startedAt: now() });
}

export function createTaskCompletedEvent(taskId: TaskId, result: unknown, duration: number) {
  return event("task:completed", taskId, "task", { taskId, result, completedAt: now(), duration });
}

export function createTaskFailedEvent(taskId: TaskId, error: Error, retryCount: number) {
  return event("task:failed", taskId, "task", {
    taskId,
    error: error.message,
    stack: error.stack,
    failedAt: now(),
    retryCount,
  });
}

export function createTaskBlockedEvent(taskId: TaskId, blockedBy: TaskId[]) {
  return event("task:blocked", taskId, "task", { taskId, blockedBy, blockedAt: now() });
}

export function createTaskQueuedEvent(taskId: TaskId, priority: string) {
  return event("task:queued", taskId, "task", { taskId, priority, queuedAt: now() });
}

export function createMemoryStoredEvent(
  memoryId: string,
  namespace: string,
  key: string,
  memoryType: string,
  size: number,
) {
  return event("memory:stored", memoryId, "memory", { memoryId, namespace, key, memoryType, size, storedAt: now() });
}

export function createMemoryRetrievedEvent(memoryId: string, namespace: string, key: string, accessCount: number) {
  return event("memory:retrieved", memoryId, "memory", { memoryId, namespace, key, retrievedAt: now(), accessCount });
}

export function createMemoryDeletedEvent(memoryId: string, namespace: string, key: string) {
  return event("memory:deleted", memoryId, "memory", { memoryId, namespace, key, deletedAt: now() });
}

export function createMemoryExpiredEvent(memoryId: string, namespace: string, key: string, expiresAt: number) {
  return event("memory:expired", memoryId, "memory", { memoryId, namespace, key, expiredAt: now(), expiresAt });
}

export function createSwarmInitializedEvent(topology: string, maxAgents: number, config: Record<string, unknown>) {
  return event("swarm:initialized", "swarm", "swarm", { topology, maxAgents, config, initializedAt: now() });
}

export function createSwarmScaledEvent(previousAgentCount: number, newAgentCount: number, reason: string) {
  return event("swarm:scaled", "swarm", "swarm", { previousAgentCount, newAgentCount, scaledAt: now(), reason });
}

export function createSwarmTerminatedEvent(reason: string, metrics: Record<string, unknown>) {
  return event("swarm:terminated", "swarm", "swarm", { reason, terminatedAt: now(), metrics });
}

export function createSwarmPhaseChangedEvent(previousPhase: string, newPhase: string) {
  return event("swarm:phase-changed", "swarm", "swarm", { previousPhase, newPhase, changedAt: now() });
}

export function createSwarmMilestoneReachedEvent(milestoneId: string, name: string) {
  return event("swarm:milestone-reached", "swarm", "swarm", { milestoneId, name, reachedAt: now() });
}

export function createSwarmErrorEvent(error: Error, context: Record<string, unknown>) {
  return event("swarm:error", "swarm", "swarm", { error: error.message, stack: error.stack, context, errorAt: now() });
}
