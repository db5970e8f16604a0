/**
 * Which namespace's `http.js` answers an HTTP action request, and under which path: Convex's
 * `route_http_action` (convex-backend crates/application/src/application_function_runner/http_routing.rs).
 * From the app down: an exact route of the namespace's own `http.js` wins; otherwise the longest
 * prefix among its `http.js` prefix routes and the mount paths of its children
 * (`app.use(x, { httpPrefix: "/x/" })`); a mount passes the rest of the path (`/x/hello` → `/hello`)
 * on to the child, which routes it the same way. Nothing matched: the namespace's `http.js`, when it
 * has one, answers (its router says 404); a namespace with neither routes nor mounts: no route.
 *
 *   routeHttpRequest(analysis, "/echo/hello", "GET"); // { namespace: "@echo", routedPath: "/hello" }
 *
 * The request itself keeps its URL: the router of the namespace looks `routedPath` up, as Convex's
 * `runRequest(argsStr, requestRoute)` does.
 */
import { namespaceOf, componentPathOf, qualifiedPath } from "./components.js";
import type { DeploymentAnalysis } from "./functions.js";

export interface HttpRoute {
  /** The namespace whose `http.js` runs ("" for the app's). */
  namespace: string;
  /** The path its router looks up. */
  routedPath: string;
}

/** The module path of a namespace's router. */
export function httpModuleOf(namespace: string): string {
  return qualifiedPath(namespace, "http.js");
}

/** Where a request for `pathname` with `method` goes, or null when nothing in the deployment routes it. */
export function routeHttpRequest(analysis: DeploymentAnalysis | undefined, pathname: string, method: string): HttpRoute | null {
  if (analysis === undefined) return null;
  // A router matches HEAD as GET (convex/server HttpRouter normalizeMethod).
  const wanted = method.toUpperCase() === "HEAD" ? "GET" : method.toUpperCase();
  let namespace = "";
  let routedPath = pathname;
  for (;;) {
    const routes = analysis.modules[httpModuleOf(namespace)]?.httpRoutes?.map(({ route }) => route) ?? null;
    const mounts = analysis.httpMounts?.[namespace] ?? {};
    if (routes === null && Object.keys(mounts).length === 0) return null;
    const forMethod = (routes ?? []).filter((route) => route.method === wanted);
    if (forMethod.some((route) => !route.path.endsWith("*") && route.path === routedPath)) return { namespace, routedPath };
    // The longest matched prefix: of the router's prefix routes (`/prefix/*`), then of the mounts.
    let longest: { prefix: string; child?: string } | undefined;
    for (const route of forMethod) {
      const prefix = route.path.endsWith("*") ? route.path.slice(0, -1) : undefined;
      if (prefix !== undefined && routedPath.startsWith(prefix) && (longest === undefined || prefix.length > longest.prefix.length)) longest = { prefix };
    }
    for (const [mountPath, child] of Object.entries(mounts)) {
      if (routedPath.startsWith(mountPath) && (longest === undefined || mountPath.length >= longest.prefix.length)) longest = { prefix: mountPath, child };
    }
    if (longest?.child === undefined) return routes === null ? null : { namespace, routedPath };
    const childPath = componentPathOf(namespace);
    namespace = namespaceOf(childPath === "" ? longest.child : `${childPath}/${longest.child}`);
    routedPath = `/${routedPath.slice(longest.prefix.length)}`;
  }
}
