/**
 * `ctx.scheduler` from a mutation's or an action's host, as Convex checks it
 * (convex-backend crates/udf/src/validation.rs `validate_schedule_args`, crates/model/src/scheduled_jobs/mod.rs
 * `SchedulerModel::schedule`, crates/isolate/src/environment/udf/async_syscall.rs `cancel_job`):
 *
 *   scheduleFunction(catalog, transaction, request, caller); // `1.0/schedule`, `1.0/actions/schedule`
 *   cancelJobFromMutation(transaction, id, caller, udfServerVersion, warn); // `1.0/cancel_job`
 *
 * Scheduling checks only that the time is within five years and that the module and its export
 * exist: what the function is (a query fails when it runs) and whether the arguments pass its
 * validator are found out when the job runs, as on Convex.
 */
import type { JSONValue } from "convex/values";
import type { Transaction } from "../transactions/transaction.js";
import type { FunctionCatalog } from "./functionCatalog.js";
import { functionPathOf, type FunctionAddress } from "./functionHandles.js";
import { localName } from "./components.js";
import { checkFunctionPath, parseFunctionPath } from "./modules.js";
import type { Caller } from "./runner.js";
import { cancelJob, insertJob, isCanceled, jobNameOf } from "./scheduledFunctionsTable.js";

/** Convex refuses times more than 5 × 366 days away from the scheduling function's clock. */
const MAX_SCHEDULE_DISTANCE_SECONDS = 5 * 366 * 24 * 3600;

/** The warning Convex logs when a scheduled mutation cancels its own job (which it then ignores). */
export const SELF_CANCEL_WARNING =
  "A scheduled mutation canceling itself is deprecated and will throw an error in a future version of Convex.";

/**
 * `1.0/schedule`: adds a job in `transaction`; returns its id. A call that belongs to a scheduled
 * job canceled while it runs (an action's, or a mutation's it called) schedules jobs born canceled.
 */
export function scheduleFunction(catalog: FunctionCatalog, transaction: Transaction, request: FunctionAddress & { args: JSONValue; ts: unknown }, caller: Caller, now = Date.now(), namespace = ""): string {
  const path = functionPathOf(request, namespace);
  checkFunctionPath(localName(path));
  const scheduledTime = scheduledTimeOf(request.ts, now);
  const { modulePath, exportName } = parseFunctionPath(path);
  // A component's module is found by its path qualified with the component's namespace (components.ts).
  const module = catalog.analysis?.modules[modulePath];
  if (module === undefined) throw new Error(`Attempted to schedule function at nonexistent path: ${localName(modulePath)}`);
  if (!module.functions.some((fn) => fn.name === exportName)) {
    throw new Error(`Attempted to schedule function, but no exported function ${exportName} found in the file: ${modulePath}. Did you forget to export it?`);
  }
  const canceled = caller.scheduledJob !== undefined && isCanceled(transaction, caller.scheduledJob);
  // The job goes into the scheduling namespace's own table, as on Convex.
  return insertJob(transaction, jobNameOf(namespace, `${modulePath}:${exportName}`), request.args, scheduledTime, canceled ? now : undefined, namespace);
}

/** From this `convex` package version on, Convex refuses a scheduled mutation's cancel of itself (MIN_NPM_VERSION_MUTATION_SELF_CANCEL). */
const SELF_CANCEL_REFUSED_FROM = [1, 50, 0];

/**
 * `1.0/cancel_job` in a mutation. A mutation that belongs to the job it cancels (the scheduled
 * mutation itself, or one its scheduled action called) fails with Convex's error when the app was
 * pushed with `convex` 1.50 or later, and otherwise leaves the job alone and `warn`s, as Convex does
 * for older packages; any other job is canceled as `cancelJob` does.
 */
export function cancelJobFromMutation(transaction: Transaction, id: string, caller: Caller, udfServerVersion: string | undefined, warn: (message: string) => void, namespace = ""): void {
  if (caller.scheduledJob !== undefined && caller.scheduledJob === id) {
    if (udfServerVersion !== undefined && versionAtLeast(udfServerVersion, SELF_CANCEL_REFUSED_FROM)) throw new Error("A mutation cannot cancel itself");
    warn(SELF_CANCEL_WARNING);
    return;
  }
  cancelJob(transaction, id, Date.now(), namespace);
}

/** Whether a semver `version` is at least `minimum` (a prerelease comes before its release, as semver orders them). */
function versionAtLeast(version: string, minimum: number[]): boolean {
  const match = /^(\d+)\.(\d+)\.(\d+)(-)?/.exec(version);
  if (match === null) return false;
  const parts = match.slice(1, 4).map(Number);
  for (let i = 0; i < minimum.length; i++) if (parts[i] !== minimum[i]) return parts[i] > minimum[i];
  return match[4] === undefined;
}

/**
 * The Convex-JSON float seconds of `1.0/schedule`'s `ts` as milliseconds, within five years of
 * `now` (Convex's `InvalidScheduledFunctionDelay`, naming the time as Rust prints it).
 */
function scheduledTimeOf(ts: unknown, now: number): number {
  // Rust's Duration::try_from_secs_f64 refusals, under Convex's argument error.
  if (typeof ts !== "number" || Number.isNaN(ts) || ts === Infinity) throw new Error("Invalid arguments for `ts`: cannot convert float seconds to Duration: value is either too big or NaN");
  if (ts < 0) throw new Error("Invalid arguments for `ts`: cannot convert float seconds to Duration: value is negative");
  const distance = ts - now / 1000;
  if (distance > MAX_SCHEDULE_DISTANCE_SECONDS) throw new Error(`${rustTimestamp(ts)} is more than 5 years in the future`);
  if (distance < -MAX_SCHEDULE_DISTANCE_SECONDS) throw new Error(`${rustTimestamp(ts)} is more than 5 years in the past`);
  return ts * 1000;
}

/** `UnixTimestamp(<Duration>)` as Rust's Debug prints seconds: the fraction to the nanosecond, trailing zeros dropped. */
function rustTimestamp(seconds: number): string {
  const whole = Math.floor(seconds);
  const nanos = Math.round((seconds - whole) * 1e9);
  const fraction = nanos === 0 ? "" : `.${String(nanos).padStart(9, "0").replace(/0+$/, "")}`;
  return `UnixTimestamp(${whole}${fraction}s)`;
}
