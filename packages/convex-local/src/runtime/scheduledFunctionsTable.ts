/**
 * The `_scheduled_functions` system table: one document per `ctx.scheduler.runAfter/runAt`, in the
 * shape of Convex's virtual table (convex-backend crates/model/src/scheduled_jobs/virtual_table.rs):
 * `{ name, args, scheduledTime, state: { kind, error? }, completedTime? }`, and its state machine
 * (crates/model/src/scheduled_jobs/mod.rs): pending → inProgress → success | failed, or canceled
 * from pending or inProgress; a finished job never changes again. Writes go through a
 * `Transaction`, so a job scheduled by a mutation commits (or rolls back) with that mutation.
 *
 * Each component instance has its own table (components.ts): `@c/_scheduled_functions` holds the jobs
 * code of the component `c` scheduled, under the function paths of the component (`lib.js:run`, as
 * Convex shows them in the component's table); the scheduler runs them in the component.
 *
 *   const id = insertJob(transaction, "jobs.js:send", { to }, Date.now() + 1000);
 *   cancelJob(transaction, id);
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { JSONValue } from "convex/values";
import type { Transaction } from "../transactions/transaction.js";
import { isComponentName, localName, namespaceOfName, qualifiedPath } from "./components.js";

export const SCHEDULED_FUNCTIONS_TABLE = "_scheduled_functions";
/** Index the scheduler reads due jobs from: `state.kind`, then `scheduledTime`. */
export const SCHEDULED_BY_STATE_INDEX = "by_state_and_time";
export const SCHEDULED_BY_STATE_FIELDS = ["state.kind", "scheduledTime"];

/** The stored name of the job table of `namespace` ("" for the app's). */
export function jobTableOf(namespace: string): string {
  return qualifiedPath(namespace, SCHEDULED_FUNCTIONS_TABLE);
}

/** Whether a stored table is the job table of some namespace. */
export function isJobTable(stored: string | null): boolean {
  return stored !== null && localName(stored) === SCHEDULED_FUNCTIONS_TABLE;
}

/**
 * The name a job of `namespace`'s table records for the qualified function `path`: the path inside
 * the namespace, or the qualified path when the function is another namespace's (a child component's,
 * scheduled through its reference; Convex shows the path inside that component).
 */
export function jobNameOf(namespace: string, path: string): string {
  return namespaceOfName(path) === namespace ? localName(path) : path;
}

/**
 * The qualified function a job of the job table `table` runs (the inverse of {@link jobNameOf}). A
 * job of a data directory from before components had their own tables sits in the app's table
 * under its qualified name, and still runs.
 */
export function jobFunctionPath(table: string, job: Pick<ScheduledJob, "name">): string {
  return isComponentName(job.name) ? job.name : qualifiedPath(namespaceOfName(table), job.name);
}

/**
 * A job's state as Convex shows it. An in-progress one names its run as Convex's does: the
 * request and execution ids, under the snake_case names Convex's serialization gives them.
 */
export type JobState =
  | { kind: "pending" }
  | { kind: "inProgress"; request_id: string; execution_id: string }
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

/** Convex's answer to a `ctx.scheduler.cancel` of an id that is not a scheduled function's. */
export const INVALID_SCHEDULED_FUNCTION_ID = "Invalid scheduled function ID. The ID must be an ID on the '_scheduled_functions' table.";

/**
 * Inserts a pending job (or, with `canceledAt`, one born canceled at that time) into the job table
 * of `namespace`, `name` being the function's path inside it; returns its id.
 */
export function insertJob(transaction: Transaction, name: string, args: JSONValue, scheduledTime: number, canceledAt?: number, namespace = ""): string {
  const table = jobTableOf(namespace);
  if (canceledAt !== undefined) {
    // Convex stamps both times with the scheduling transaction's, not the requested time.
    return transaction.insert(table, { name, args: [args], scheduledTime: canceledAt, state: { kind: "canceled" }, completedTime: canceledAt });
  }
  return transaction.insert(table, { name, args: [args], scheduledTime, state: { kind: "pending" } });
}

/** The job `id` (of any namespace's job table), or null when there is none (or the id is of another table). */
export function readJob(transaction: Transaction, id: string): ScheduledJob | null {
  if (!isJobTable(transaction.tableOfId(id))) return null;
  const json = transaction.get(id);
  return json === null ? null : (JSON.parse(json) as ScheduledJob);
}

/** Whether a job in `state` has not finished yet (only these can still change). */
export function isUnfinished(state: JobState): boolean {
  return state.kind === "pending" || state.kind === "inProgress";
}

/** Moves job `id` to `state` (stamping `completedTime` for final states). */
export function setJobState(transaction: Transaction, job: ScheduledJob, state: JobState, now = Date.now()): void {
  const { _id, _creationTime, ...fields } = job;
  const next: Record<string, JSONValue> = { ...(fields as unknown as Record<string, JSONValue>), state: state as unknown as JSONValue };
  if (!isUnfinished(state)) next.completedTime = now;
  transaction.replace(_id, next);
}

/** An in-progress state for a new run: a request id as Convex makes them (16 hex digits) and an execution UUID. */
export function inProgressState(): JobState {
  return { kind: "inProgress", request_id: randomBytes(8).toString("hex"), execution_id: randomUUID() };
}

/**
 * Moves a pending job to `inProgress`; false (and nothing written) when it is no longer pending
 * (canceled meanwhile). A scheduled mutation's own transaction does this before its code runs,
 * so the mutation sees its job in progress, as on Convex; others see it once it committed.
 */
export function startJob(transaction: Transaction, id: string): boolean {
  const job = readJob(transaction, id);
  if (job === null || job.state.kind !== "pending") return false;
  setJobState(transaction, job, inProgressState());
  return true;
}

/**
 * Records how a job's run ended, as Convex's `SchedulerModel::complete`: a job canceled meanwhile
 * stays canceled; false when the job is gone or already finished.
 */
export function completeJob(transaction: Transaction, id: string, state: JobState, now = Date.now()): boolean {
  const job = readJob(transaction, id);
  if (job === null || !isUnfinished(job.state)) return false;
  setJobState(transaction, job, state, now);
  return true;
}

/**
 * `ctx.scheduler.cancel(id)` from code of `namespace`, as Convex's `VirtualSchedulerModel::cancel`:
 * an id of another table (another namespace's job table included) is refused; a pending or running
 * job becomes canceled (a running action keeps running, but its result is no longer recorded and
 * what it schedules from then on is born canceled); a finished job, or one that no longer exists,
 * is left alone without an error.
 */
export function cancelJob(transaction: Transaction, id: string, now = Date.now(), namespace = ""): void {
  if (transaction.tableOfId(id) !== jobTableOf(namespace)) throw new Error(INVALID_SCHEDULED_FUNCTION_ID);
  const job = readJob(transaction, id);
  if (job !== null && isUnfinished(job.state)) setJobState(transaction, job, { kind: "canceled" }, now);
}

/** Whether the job `id` (the one whose run a call belongs to) was canceled. */
export function isCanceled(transaction: Transaction, id: string): boolean {
  return readJob(transaction, id)?.state.kind === "canceled";
}
