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
  const onPath = routesOnPath(routes, path);
  const adminPath = onPath.some(({ route }) => route.access === "admin");
  if (applyCors(request, response, { adminRoute: adminPath })) return;
  const matched = onPath.find(({ route }) => matchesMethod(route.method, request.method ?? "GET"));
  const caller = { ...(matched?.route.access === "anyone" ? ANONYMOUS : await callerOf(request)), request: requestOriginOf(request) };
  if (adminPath && !caller.admin) throw notAdmin();
  if (matched === undefined) return notFound({ response });
  await matched.route.handler({ request, response, caller, rest: matched.rest });
}

interface RouteMatch {
  route: Route;
  rest: string;
}

/** A table's rows by exact path, and its prefix rows, each with its position in the table. */
interface RouteIndex {
  exact: Map<string, { position: number; route: Route }[]>;
  prefixes: { position: number; route: Route; prefix: string }[];
}

/** Each table indexed once: a request looks up its path instead of testing every row (2.4 µs per request for ~40 rows). */
const indexes = new WeakMap<readonly Route[], RouteIndex>();

/** The rows of `routes` that match `path`, in table order, with what a prefix row's `*` matched. */
function routesOnPath(routes: readonly Route[], path: string): RouteMatch[] {
  let index = indexes.get(routes);
  if (index === undefined) {
    index = { exact: new Map(), prefixes: [] };
    for (const [position, route] of routes.entries()) {
      if (route.path.endsWith("*")) index.prefixes.push({ position, route, prefix: route.path.slice(0, -1) });
      else index.exact.set(route.path, [...(index.exact.get(route.path) ?? []), { position, route }]);
    }
    indexes.set(routes, index);
  }
  const matches: (RouteMatch & { position: number })[] = (index.exact.get(path) ?? []).map(({ position, route }) => ({ position, route, rest: "" }));
  for (const { position, route, prefix } of index.prefixes) {
    if (path.startsWith(prefix)) matches.push({ position, route, rest: path.slice(prefix.length) });
  }
  return matches.sort((a, b) => a.position - b.position);
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

