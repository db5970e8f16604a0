/**
 * Component ids, as `_system/frontend/components:list` hands them out and `/api/run_test_function`
 * (`componentId`) takes them back. Convex's are ids of its `_components` documents; convex-local
 * keeps no such table, so a component's id is its namespace (components.ts: `@rateLimiter@batchWorker`),
 * and the app's is `app`. Clients never build them: the CLI looks them up in the list by path.
 *
 * @example
 * componentIdOf("rateLimiter/batchWorker"); // "@rateLimiter@batchWorker"
 * namespaceOfComponentId("@rateLimiter", analysis); // "@rateLimiter" while it is installed
 */
import { namespaceOf, namespaceOfName } from "./components.js";
import type { DeploymentAnalysis } from "./functions.js";

const APP_COMPONENT_ID = "app";

/** The id of the component instance at `componentPath` ("" for the app). */
export function componentIdOf(componentPath: string): string {
  return componentPath === "" ? APP_COMPONENT_ID : namespaceOf(componentPath);
}

/** The namespaces of the components the running push installed (the app's "" first). */
export function installedNamespaces(analysis: DeploymentAnalysis | undefined): Set<string> {
  const namespaces = new Set([""]);
  for (const modulePath of Object.keys(analysis?.modules ?? {})) namespaces.add(namespaceOfName(modulePath));
  for (const namespace of Object.keys(analysis?.componentSchemas ?? {})) namespaces.add(namespace);
  return namespaces;
}

/** The namespace of the installed component `id` names; undefined when it names none. */
export function namespaceOfComponentId(id: string, analysis: DeploymentAnalysis | undefined): string | undefined {
  const namespace = id === APP_COMPONENT_ID ? "" : id;
  return installedNamespaces(analysis).has(namespace) ? namespace : undefined;
}
