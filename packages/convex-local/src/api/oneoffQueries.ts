/**
 * `POST /api/run_test_function`: a one-off query (`npx convex run --inline-query`, the MCP server's
 * `runOneoffQuery` tool, the dashboard's function runner), as Convex's
 * crates/local_backend/src/dashboard.rs `run_test_function` answers it: the body
 * `{ adminKey, bundle: { path, source }, args, format, componentId? }`, the admin key checked from
 * the body, refusals of the module as HTTP 400 with Convex's codes, and the run's `UdfResponse`
 * (`{status: "success", value, logLines}` or `{status: "error", errorMessage, errorData?, logLines}`).
 * The run itself is the runtime's (runtime/oneoffQuery.ts).
 *
 * Unlike Convex, the route is an admin route (the `Authorization: Convex <key>` header is needed
 * too, which the CLI always sends): the body's key alone would let a web page use it.
 */
import type { JSONValue } from "convex/values";
import { AuthError } from "../auth/authError.js";
import type { CallerResolver } from "../auth/caller.js";
import { namespaceOfComponentId } from "../runtime/componentIds.js";
import { OneoffQueryRefusal } from "../runtime/oneoffQuery.js";
import type { FunctionRunner } from "../runtime/runner.js";
import { truncateText } from "../text/valueText.js";
import { parseFormat, resultBody } from "./functionRoutes.js";
import { RequestError, readJsonObject, requireString, sendJson } from "./http.js";
import type { RouteRequest } from "./router.js";
import { randomRequestId } from "./serverError.js";

export async function runOneoffQuery({ request, response, caller }: RouteRequest, runner: FunctionRunner, callers: CallerResolver): Promise<void> {
  const body = await readJsonObject(request);
  await requireAdminKey(requireString(body, "adminKey"), callers);
  const bundle = body.bundle as { path?: unknown; source?: unknown } | undefined;
  if (typeof bundle !== "object" || bundle === null || Array.isArray(bundle)) {
    throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: missing field `bundle`");
  }
  const source = requireString(bundle as Record<string, unknown>, "source");
  requireString(bundle as Record<string, unknown>, "path");
  if (body.args === undefined) throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: missing field `args`");
  const format = parseFormat(requireString(body, "format"), "encoded");
  const namespace = componentNamespace(body.componentId, runner);
  const requestId = caller.request?.id ?? randomRequestId();
  let result;
  try {
    result = await runner.oneoffQuery(source, body.args as JSONValue, namespace, caller.request);
  } catch (error) {
    if (error instanceof OneoffQueryRefusal) throw new RequestError(400, error.code, error.message);
    throw error;
  }
  sendJson(response, 200, resultBody(result, format, requestId));
}

/** Convex's `must_be_admin_from_key`: the body's key must be the deployment's admin key, acting as no one. */
async function requireAdminKey(adminKey: string, callers: CallerResolver): Promise<void> {
  let admin = false;
  try {
    const keyCaller = await callers.fromAuthorizationHeader(`Convex ${adminKey}`);
    admin = keyCaller.admin && keyCaller.identity === null;
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
  }
  if (!admin) throw new RequestError(401, "BadAdminKey", "The provided admin key was invalid for this instance");
}

/** The namespace of the component `componentId` names (absent or null: the app). */
function componentNamespace(componentId: unknown, runner: FunctionRunner): string {
  if (componentId === undefined || componentId === null) return "";
  if (typeof componentId !== "string") throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: componentId: invalid type, expected a string");
  const namespace = namespaceOfComponentId(componentId, runner.analysis);
  if (namespace === undefined) throw new RequestError(400, "InvalidComponentId", `Component ${JSON.stringify(truncateText(componentId, 200))} not found: no component with this id is installed (ids come from _system/frontend/components:list).`);
  return namespace;
}
