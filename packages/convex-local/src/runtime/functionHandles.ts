/**
 * Function handles (`createFunctionHandle` in `convex/server`): strings that name a function and
 * can stand in for a function reference in `ctx.runQuery`, `ctx.runMutation`, `ctx.runAction` and
 * the scheduler. The format is Convex's, `function://<id>#<path>`. Convex keeps a table of handles
 * because a path is only unique within a component; here the id is
 * derived from the path itself (a component's function's path is qualified with its namespace,
 * components.ts): a handle needs no stored state and stays valid as long as its function exists.
 *
 * @example
 * ```ts
 * const handle = functionHandle("messages:send"); // "function://3f2a…#messages:send"
 * functionPathOf({ functionHandle: handle }); // "messages:send"
 * ```
 */
import { createHash } from "node:crypto";
import { qualifiedPath, referencedFunction } from "./components.js";

const PREFIX = "function://";

/** How a syscall names the function to call: by path, by component reference, or by handle. */
export interface FunctionAddress {
  name?: string;
  reference?: string;
  functionHandle?: string;
}

export class InvalidFunctionHandleError extends Error {
  constructor(handle: string) {
    super(`Invalid function handle ${handle}`);
    this.name = "InvalidFunctionHandleError";
  }
}

function idOf(canonicalPath: string): string {
  return createHash("sha256").update(canonicalPath).digest("hex").slice(0, 32);
}

/** The handle of a function, given its canonical path (`module:export`). */
export function functionHandle(canonicalPath: string): string {
  return `${PREFIX}${idOf(canonicalPath)}#${canonicalPath}`;
}

/** Whether `value` is a handle as `functionHandle` makes them (its function may no longer exist). */
export function isFunctionHandle(value: string): boolean {
  try {
    functionPathOf({ functionHandle: value });
    return true;
  } catch {
    return false;
  }
}

/**
 * The path a syscall's address names, for code running in `namespace` (components.ts; "" for the
 * app): a name is a function of the caller's own namespace, a reference one of its child
 * components; a handle (which holds the qualified path) must be one this deployment made.
 */
export function functionPathOf(address: FunctionAddress, namespace = ""): string {
  if (address.name !== undefined) return qualifiedPath(namespace, address.name);
  if (address.reference !== undefined) return address.reference.startsWith("_reference/") ? referencedFunction(namespace, address.reference) : qualifiedPath(namespace, address.reference);
  const handle = address.functionHandle;
  if (handle === undefined) throw new Error("The call names no function (no name, reference or function handle)");
  const hash = handle.startsWith(PREFIX) ? handle.indexOf("#") : -1;
  const path = hash === -1 ? "" : handle.slice(hash + 1);
  if (path === "" || handle.slice(PREFIX.length, hash) !== idOf(path)) throw new InvalidFunctionHandleError(handle);
  return path;
}
