/**
 * The `_scheduled_functions` system table: one document per `ctx.scheduler.runAfter/runAt`, as
 * Convex describes it (https://docs.convex.dev/scheduling/scheduled-functions):
 * `{ name, args, scheduledTime, state: { kind, error? }, completedTime? }`. Writes go through a
 * `Transaction`, so a job scheduled by a mutation commits (or rolls back) with that mutation.
 */
import type { JSONValue } from "convex/values";
import type { Transaction } from "../transactions/transaction.js";

export const SCHEDULED_FUNCTIONS_TABLE = "_scheduled_functions";
/** Index the scheduler reads due jobs from: `state.kind`, then `scheduledTime`. */
export const SCHEDULED_BY_STATE_INDEX = "by_state_and_time";
export const SCHEDULED_BY_STATE_FIELDS = ["state.kind", "scheduledTime"];

export type JobState =
  | { kind: "pending" }
  | { kind: "inProgress" }
  | { kind: "success" }
  | { kind: "failed"; error: string }
  | { kind: "canceled" };

export interface ScheduledJob {
  _id: string;
  _creationTime: number;
  /** `module.js:export`, as Convex stores it. */
  name: string;
  /** `[args]` in Convex JSON. */
  args: JSONValue[];
  scheduledTime: number;
  state: JobState;
  completedTime?: number;
}

/** Inserts a pending job; returns its id. */
export function insertJob(transaction: Transaction, name: string, args: JSONValue, scheduledTime: number): string {
  return transaction.insert(SCHEDULED_FUNCTIONS_TABLE, { name, args: [args], scheduledTime, state: { kind: "pending" } });
}

/** The job `id`, or null when there is none (or the id is of another table). */
export function readJob(transaction: Transaction, id: string): ScheduledJob | null {
  if (transaction.tableOfId(id) !== SCHEDULED_FUNCTIONS_TABLE) return null;
  const json = transaction.get(id);
  return json === null ? null : (JSON.parse(json) as ScheduledJob);
}

/** Moves job `id` to `state` (stamping `completedTime` for final states). */
export function setJobState(transaction: Transaction, job: ScheduledJob, state: JobState, now = Date.now()): void {
  const { _id, _creationTime, ...fields } = job;
  const next: Record<string, JSONValue> = { ...(fields as unknown as Record<string, JSONValue>), state: state as unknown as JSONValue };
  if (state.kind !== "pending" && state.kind !== "inProgress") next.completedTime = now;
  transaction.replace(_id, next);
}

/**
 * Cancels job `id` if it has not finished yet (a running action keeps running, but its result is
 * no longer recorded), as `ctx.scheduler.cancel` does; finished or unknown jobs are left alone.
 */
export function cancelJob(transaction: Transaction, id: string): void {
  const job = readJob(transaction, id);
  if (job === null) throw new Error(`Scheduled function ${id} does not exist`);
  if (job.state.kind === "pending" || job.state.kind === "inProgress") setJobState(transaction, job, { kind: "canceled" });
}

/** The Convex-JSON float seconds of `1.0/schedule`'s `ts` as milliseconds. */
export function scheduledTimeOf(ts: unknown): number {
  if (typeof ts !== "number" || !Number.isFinite(ts)) throw new Error("The scheduled time must be a finite number");
  return ts * 1000;
}
