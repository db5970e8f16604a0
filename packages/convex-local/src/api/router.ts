/**
 * The deployment API's route table: rows of method, path (exact or a `*` prefix), who may call and
 * a handler, matched in order, with the access rules applied before any handler runs.
 *
 * @example
 * const routes: Route[] = [{ method: "GET", path: "/version", access: "anyone", handler: ({ response }) => sendText(response, 200, "1") }];
 * server.on("request", (request, response) => void routeRequest(routes, request, response, resolveCaller));
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ANONYMOUS, type Caller } from "../runtime/runner.js";
import { requestOriginOf } from "./requestOrigin.js";
import { RequestError, applyCors, sendText } from "./http.js";

/**
 * Who may call a route: `"anyone"` without the `Authorization` header being read (the route needs no
 * credential, or checks its own, as upload URLs do); `"caller"` as the caller that header names,
 * refused when it does not verify; `"admin"` with the admin key only, and no CORS headers (README
 * "Security").
 */
export type RouteAccess = "anyone" | "caller" | "admin";

/** What a route's handler is given. */
export interface RouteRequest {
  request: IncomingMessage;
  response: ServerResponse;
  /** Who is calling (anonymous on routes open to anyone, whose `Authorization` header is not read). */
  caller: Caller;
  /** What a prefix route's `*` matched; "" on an exact route. */
  rest: string;
}

/** One row of a route table. */
export interface Route {
  /** The method answered, a list of them, or "*" for any. */
  method: string | readonly string[];
  /** An exact path, or a prefix ending in `*`. */
  path: string;
  access: RouteAccess;
  handler: (route: RouteRequest) => Promise<void> | void;
}

/**
 * Answers a request from a route table: CORS first (none on an admin route's path, whatever the
 * method), then the first row whose path and method match. The caller is resolved before anything
 * but a route open to anyone, so a refused `Authorization` header is refused on any path, and an
 * admin route's path needs the admin key whatever the method (403 before 404).
 */
export async function routeRequest(
  routes: readonly Route[],
  request: IncomingMessage,
  response: ServerResponse,
  callerOf: (request: IncomingMessage) => Promise<Caller>,
): Promise<void> {
  const path = (request.url ?? "/").split("?")[0];
  const onPath = routes.flatMap((route) => {
    const rest = matchPath(route.path, path);
    return rest === undefined ? [] : [{ route, rest }];
  });
  const adminPath = onPath.some(({ route }) => route.access === "admin");
  if (applyCors(request, response, { adminRoute: adminPath })) return;
  const matched = onPath.find(({ route }) => matchesMethod(route.method, request.method ?? "GET"));
  const caller = { ...(matched?.route.access === "anyone" ? ANONYMOUS : await callerOf(request)), request: requestOriginOf(request) };
  if (adminPath && !caller.admin) throw notAdmin();
  if (matched === undefined) return notFound({ response });
  await matched.route.handler({ request, response, caller, rest: matched.rest });
}

/** What `path` holds past a route's pattern: "" for an exact match, the rest past a `*` prefix, undefined when it does not match. */
function matchPath(pattern: string, path: string): string | undefined {
  if (!pattern.endsWith("*")) return pattern === path ? "" : undefined;
  const prefix = pattern.slice(0, -1);
  return path.startsWith(prefix) ? path.slice(prefix.length) : undefined;
}

function matchesMethod(accepted: Route["method"], method: string): boolean {
  return accepted === "*" || accepted === method || (Array.isArray(accepted) && accepted.includes(method));
}

/** The empty 404 of a path (or method) no route answers. */
export function notFound({ response }: Pick<RouteRequest, "response">): void {
  sendText(response, 404, "");
}

/** Convex's refusal of a caller without the admin key on a route that needs it. */
export function notAdmin(): RequestError {
  return new RequestError(
    403,
    "BadDeployKey",
    "The provided deploy key was invalid for this deployment. Double check that the environment this key was generated for matches the desired deployment.",
  );
}

