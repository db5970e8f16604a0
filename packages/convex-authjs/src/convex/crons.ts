import { makeFunctionReference, type Crons } from "convex/server";
import { CLEANUP_MUTATION, DEFAULT_FUNCTIONS_MODULE } from "../shared/protocol.js";

export interface AuthCleanupOptions {
  /** The module `defineAuthAdapter()` is exported from. Default `"authAdapter"`. */
  functionsModule?: string;
  /** Minutes between runs. Default 60. */
  intervalMinutes?: number;
  /** Documents deleted per table per transaction. Default: the adapter's (200). */
  batchSize?: number;
}

/**
 * Registers the job that deletes expired sessions and verification tokens.
 * Auth.js deletes an expired session only when its owner comes back, so
 * without this job abandoned ones accumulate forever.
 *
 * @example
 * ```ts
 * // convex/crons.ts
 * import { cronJobs } from "convex/server";
 * import { scheduleAuthCleanup } from "convex-authjs/convex";
 *
 * const crons = cronJobs();
 * scheduleAuthCleanup(crons);
 * export default crons;
 * ```
 */
export function scheduleAuthCleanup(crons: Crons, options: AuthCleanupOptions = {}): void {
  const cleanup = makeFunctionReference<"mutation", { batchSize?: number }>(
    `${options.functionsModule ?? DEFAULT_FUNCTIONS_MODULE}:${CLEANUP_MUTATION}`,
  );
  crons.interval(
    "convex-authjs: delete expired sessions and verification tokens",
    { minutes: options.intervalMinutes ?? 60 },
    cleanup,
    options.batchSize === undefined ? {} : { batchSize: options.batchSize },
  );
}
