/**
 * Which namespace's `http.js` answers an HTTP action request, and under which path: Convex's
 * `route_http_action` (convex-backend crates/application/src/application_function_runner/http_routing.rs).
 * From the app down: an exact route of the namespace's own `http.js` wins; otherwise the longest
 * prefix among its `http.js` prefix routes and the mount paths of its children
 * (`app.use(x, { httpPrefix: "/x/" })`); a mount passes the rest of the path (`/x/hello` → `/hello`)
 * on to the child, which routes it the same way. Nothing matched: the namespace's `http.js`, when it
 * has one, answers (its router says 404); a namespace with neither routes nor mounts: no route.
 * `defineApp({ httpPrefix: "/api/" })` serves the app's own `http.js` under that prefix (stripped
 * before its routes are matched); mounts stay absolute paths.
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
    // The path the namespace's own router sees: the app's without its httpPrefix (none when outside it).
    const appPrefix = namespace === "" ? analysis.httpPrefix : undefined;
    const ownPath = appPrefix === undefined ? routedPath : routedPath.startsWith(appPrefix) ? `/${routedPath.slice(appPrefix.length)}` : undefined;
    const forMethod = ownPath === undefined ? [] : (routes ?? []).filter((route) => route.method === wanted);
    if (forMethod.some((route) => !route.path.endsWith("*") && route.path === ownPath)) return { namespace, routedPath: ownPath! };
    // The longest matched prefix, by how little of the path it leaves: the router's prefix routes (`/prefix/*`), then the mounts.
    let longest: { rest: number; prefix: string; child?: string } | undefined;
    for (const route of forMethod) {
      const prefix = route.path.endsWith("*") ? route.path.slice(0, -1) : undefined;
      if (prefix !== undefined && ownPath!.startsWith(prefix) && (longest === undefined || ownPath!.length - prefix.length < longest.rest)) longest = { rest: ownPath!.length - prefix.length, prefix };
    }
    for (const [mountPath, child] of Object.entries(mounts)) {
      const rest = routedPath.length - mountPath.length;
      if (routedPath.startsWith(mountPath) && (longest === undefined || rest <= longest.rest)) longest = { rest, prefix: mountPath, child };
    }
    if (longest?.child === undefined) return routes === null || ownPath === undefined ? null : { namespace, routedPath: ownPath };
    const childPath = componentPathOf(namespace);
    namespace = namespaceOf(childPath === "" ? longest.child : `${childPath}/${longest.child}`);
    routedPath = `/${routedPath.slice(longest.prefix.length)}`;
  }
}
