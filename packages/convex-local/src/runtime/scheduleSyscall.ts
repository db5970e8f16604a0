/**
 * `ctx.scheduler.runAfter` / `runAt` from a mutation's or an action's host: checks that the target
 * is a mutation or action and that its arguments pass its validator, then adds the pending job.
 */
import type { JSONValue } from "convex/values";
import type { Transaction } from "../transactions/transaction.js";
import type { FunctionCatalog } from "./functionCatalog.js";
import { functionPathOf, type FunctionAddress } from "./functionHandles.js";
import { parseFunctionPath } from "./modules.js";
import { insertJob, scheduledTimeOf } from "./scheduledFunctionsTable.js";

/** `1.0/schedule`: adds a pending job in `transaction`; returns its id. */
export function scheduleFunction(catalog: FunctionCatalog, transaction: Transaction, request: FunctionAddress & { args: JSONValue; ts: unknown }): string {
  const path = functionPathOf(request);
  const info = catalog.resolve(path, { identity: null, admin: true });
  if (info.udfType === "Query") throw new Error(`Scheduled functions must be mutations or actions, but ${info.path} is a query.`);
  const { modulePath, exportName } = parseFunctionPath(info.path);
  catalog.checkArgs(info, request.args);
  return insertJob(transaction, `${modulePath}:${exportName}`, request.args, scheduledTimeOf(request.ts));
}
