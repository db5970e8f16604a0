/**
 * The environment variables a component's code sees, as Convex gives them
 * (crates/isolate/src/environment/udf/phase.rs `get_environment_variable`): a component sees its own
 * variables — the `env` bindings of `app.use(x, { env })` (componentPush.ts resolves them to a value
 * or a deployment variable's name) — and the system variables (`CONVEX_CLOUD_URL`, `CONVEX_SITE_URL`),
 * never the deployment's other variables; the app sees the deployment's and the system's.
 *
 * A call carries one environment object to wherever it runs (worker processes, action executors);
 * a component's variables travel in it under `<namespace>/<NAME>` keys (`@echo/GREETING`), which no
 * deployment variable can have (names are identifiers), and the isolate splits them apart again
 * (`splitEnvironment`) for the prelude to give each component's modules a `process.env` of their own.
 *
 *   callEnvironment({ KEY: "k" }, { CONVEX_SITE_URL: "…" }, { "@echo": { GREETING: { type: "value", value: "hi" } } });
 *   // { KEY: "k", CONVEX_SITE_URL: "…", "@echo/GREETING": "hi", "@echo/CONVEX_SITE_URL": "…" }
 */
import { namespaceOfName, localName, qualifiedPath } from "./components.js";
import type { EnvBinding } from "./functions.js";

/** The environment of a call: the app's variables, then each component's under its namespace. */
export function callEnvironment(configured: Readonly<Record<string, string>>, system: Readonly<Record<string, string>>, componentEnv: Record<string, Record<string, EnvBinding>> | undefined): Record<string, string> {
  const environment: Record<string, string> = { ...configured, ...system };
  for (const [namespace, bindings] of Object.entries(componentEnv ?? {})) {
    for (const [name, value] of Object.entries(system)) environment[qualifiedPath(namespace, name)] = value;
    for (const [name, binding] of Object.entries(bindings)) {
      const value = binding.type === "value" ? binding.value : configured[binding.name];
      if (value !== undefined) environment[qualifiedPath(namespace, name)] = value;
    }
  }
  return environment;
}

/** A call's environment split into the app's variables and each component's, by namespace. */
export function splitEnvironment(environment: Readonly<Record<string, string>>): { app: Record<string, string>; components: Record<string, Record<string, string>> } {
  const app: Record<string, string> = {};
  const components: Record<string, Record<string, string>> = {};
  for (const [key, value] of Object.entries(environment)) {
    const namespace = namespaceOfName(key);
    if (namespace === "") app[key] = value;
    else (components[namespace] ??= {})[localName(key)] = value;
  }
  return { app, components };
}
