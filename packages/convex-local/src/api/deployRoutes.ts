/**
 * The admin endpoints the official `convex` CLI uses against a self-hosted deployment: canonical
 * URLs, config hashes, the push sequence (evaluate_push, start_push, wait_for_schema, finish_push),
 * environment variables and the function log stream. Shapes follow the CLI's own zod schemas
 * (`convex/dist/*\/cli/lib/deployApi`).
 */
import { randomBytes } from "node:crypto";
import type { DeploymentState, PreparedPush } from "../runtime/deployment.js";
import { PushAnalysisError } from "../runtime/actionExecution/moduleAnalysis.js";
import type { ModuleSource } from "../runtime/modules.js";
import type { ComponentDefinitionSource } from "../runtime/componentPush.js";
import { componentPathOf, instancesOf, type ComponentInstance } from "../runtime/components.js";
import { MAX_PUSH_BODY_BYTES, RequestError, readJsonObject, sendJson } from "./http.js";
import type { RouteRequest } from "./router.js";
import type { FunctionLog } from "./functionLogs.js";

export interface DeployContext {
  deployment: DeploymentState;
  log: FunctionLog;
  cloudUrl: string;
  siteUrl: string;
  serverVersion: string;
  /** Called after a push or an environment change takes effect. */
  changed: () => void;
}

interface PushBody {
  dryRun?: boolean;
  appDefinition?: {
    schema: ModuleSource | null;
    changedModules: ModuleSource[];
    unchangedModuleHashes: { path: string; environment: string; sha256: string }[];
    udfServerVersion: string;
    /** The app's convex.config.js (the CLI sends a default one when the app has none). */
    definition?: ModuleSource | null;
  };
  componentDefinitions?: ComponentDefinitionSource[];
}

/** The push sequence's bodies: every module with its source map, from the admin key's holder. */
const PUSH_BODY_LIMITS = { maxBytes: MAX_PUSH_BODY_BYTES, maxValues: Infinity };

/** `/api/v1/get_canonical_urls`. */
export function canonicalUrls({ response }: RouteRequest, context: DeployContext): void {
  sendJson(response, 200, { convexCloudUrl: context.cloudUrl, convexSiteUrl: context.siteUrl });
}

/** `/api/check_admin_key`: reached only with the admin key, so it answers that the key is good. */
export function checkAdminKey({ response }: RouteRequest): void {
  sendJson(response, 200, { success: true, allowedOps: [], isReadOnly: false });
}

/** How long a log poll waits for an execution, as Convex's (crates/local_backend/src/logs.rs). */
const LOG_POLL_MS = 60_000;

/** `/api/stream_function_logs?cursor=…`: the log entries after the cursor (ms since the epoch), waiting up to 60 s for one. */
export async function streamFunctionLogs({ request, response }: RouteRequest, context: DeployContext): Promise<void> {
  const url = new URL(request.url ?? "/", "http://localhost");
  const cursor = Number(url.searchParams.get("cursor") ?? 0);
  const aborted = new AbortController();
  request.on("close", () => aborted.abort());
  const answer = await context.log.after(Number.isFinite(cursor) ? cursor : 0, LOG_POLL_MS, aborted.signal);
  if (!response.destroyed) sendJson(response, 200, answer);
}

/** `POST /api/get_config_hashes`: what is deployed, so the CLI pushes only what changed. */
export async function configHashes({ request, response }: RouteRequest, context: DeployContext): Promise<void> {
  await readJsonObject(request);
  sendJson(response, 200, {
    config: { functions: "convex/", authInfo: context.deployment.authInfo() },
    moduleHashes: context.deployment.moduleHashes(),
    nodeDependencies: [],
    udfServerVersion: context.serverVersion,
  });
}

/** `POST /api/deploy2/evaluate_push` and `/api/deploy2/start_push`: analyzes a push and prepares its schema change. */
export async function startPush({ request, response }: RouteRequest, context: DeployContext): Promise<void> {
  const body = (await readJsonObject(request, PUSH_BODY_LIMITS)) as PushBody;
  const app = body.appDefinition;
  if (app === undefined) throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: missing field `appDefinition`");
  if (body.componentDefinitions !== undefined && !Array.isArray(body.componentDefinitions)) {
    throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: componentDefinitions: invalid type, expected a sequence");
  }
  let prepared;
  try {
    prepared = await context.deployment.prepare({
      modules: app.changedModules,
      unchangedHashes: app.unchangedModuleHashes,
      schemaModule: app.schema,
      udfServerVersion: app.udfServerVersion,
      components: { appDefinition: app.definition ?? null, definitions: body.componentDefinitions ?? [] },
    });
  } catch (error) {
    // A module that fails to load fails the push with Convex's code for it.
    if (error instanceof PushAnalysisError) throw new RequestError(400, error.code, error.message);
    throw error;
  }
  sendJson(response, 200, startPushResponse(prepared, context, app.udfServerVersion));
}

/** `POST /api/deploy2/wait_for_schema`: the prepared push's schema status. */
export async function waitForSchema({ request, response }: RouteRequest, context: DeployContext): Promise<void> {
  const body = await readJsonObject(request, PUSH_BODY_LIMITS);
  sendJson(response, 200, await context.deployment.schemaStatus(pushIdOf(body.schemaChange)));
}

/** `POST /api/deploy2/finish_push`: makes the prepared push the running code (a dry run changes nothing). */
export async function finishPush({ request, response }: RouteRequest, context: DeployContext): Promise<void> {
  const body = await readJsonObject(request, PUSH_BODY_LIMITS);
  const started = body.startPush as { schemaChange?: unknown } | undefined;
  if (body.dryRun === true) {
    sendJson(response, 200, { authDiff: { added: [], removed: [] }, definitionDiffs: {}, componentDiffs: {} });
    return;
  }
  const { push, previousModules, previousComponents, storedComponents } = await context.deployment.finish(pushIdOf(started?.schemaChange));
  context.changed();
  sendJson(response, 200, finishPushDiff(push, previousModules, previousComponents, storedComponents));
}

/** `POST /api/deploy2/report_push_completed`: acknowledged, nothing to record. */
export async function reportPushCompleted({ request, response }: RouteRequest): Promise<void> {
  await readJsonObject(request, PUSH_BODY_LIMITS);
  sendJson(response, 200, {});
}

/** `POST /api/update_environment_variables`: sets and removes environment variables. */
export async function updateEnvironmentVariables({ request, response }: RouteRequest, context: DeployContext): Promise<void> {
  const body = await readJsonObject(request);
  if (!Array.isArray(body.changes)) throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: missing field `changes`");
  await context.deployment.updateEnvironment(body.changes as { name: string; value: string | null }[]);
  context.changed();
  sendJson(response, 200, {});
}

function pushIdOf(schemaChange: unknown): string {
  const id = (schemaChange as { schemaIds?: { pushId?: unknown } } | undefined)?.schemaIds?.pushId;
  if (typeof id !== "string") throw new RequestError(400, "BadJsonBody", "Missing or malformed `schemaChange`: send the object start_push returned.");
  return id;
}

/** Index names are reported as `table.index`, as the CLI prints them. */
function indexConfig(index: { table: string; name: string; fields: string[]; config?: Record<string, unknown> }) {
  if (index.config !== undefined) return { name: `${index.table}.${index.name}`, ...index.config };
  return { name: `${index.table}.${index.name}`, type: "database", fields: index.fields };
}

/** The index diff of each component path (the app's at ""), as start_push and finish_push report them. */
function indexDiffsByComponent(push: PreparedPush): Record<string, { added_indexes: unknown[]; removed_indexes: unknown[] }> {
  const diffs: Record<string, { added_indexes: unknown[]; removed_indexes: unknown[] }> = {};
  const of = (namespace: string) => (diffs[componentPathOf(namespace)] ??= { added_indexes: [], removed_indexes: [] });
  of("");
  for (const index of push.indexDiff.added) of(index.namespace).added_indexes.push(indexConfig(index));
  for (const index of push.indexDiff.removed) of(index.namespace).removed_indexes.push(indexConfig(index));
  return diffs;
}

/** A definition's functions as the tree of leaves `app.exports` reports (paths qualified with the component). */
function checkedExports(functions: Iterable<{ path: string }>, componentPath: string): Record<string, unknown> {
  const exports: Record<string, unknown> = {};
  for (const info of functions) {
    const [modulePath, name] = info.path.split(":");
    let node = exports;
    for (const part of modulePath.split("/")) {
      const branch = (node[part] ??= { type: "branch", children: {} }) as { children: Record<string, unknown> };
      node = branch.children;
    }
    node[name] = { type: "leaf", resource: { type: "function", path: { component: componentPath, udfPath: info.path } } };
  }
  return exports;
}

/** The instantiated component tree as start_push's `app` (the CLI's CheckedComponent). */
function checkedComponent(push: PreparedPush, instance: ComponentInstance): unknown {
  const definition = instance.path === "" ? undefined : push.components.definitions.get(instance.definitionPath);
  const analysis = definition?.analysis ?? push.analysis;
  const childComponents: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(instance.children)) childComponents[name] = checkedComponent(push, child);
  return {
    definitionPath: instance.definitionPath,
    componentPath: instance.path,
    args: {},
    childComponents,
    // Its children's mount paths (`app.use(x, { httpPrefix })`, httpRouting.ts).
    httpRoutes: { httpModuleRoutes: analysis.httpRoutes, mounts: Object.keys(push.components.metadata.get(instance.definitionPath)?.httpMounts ?? {}) },
    exports: checkedExports(analysis.functions.values(), instance.path),
  };
}

function startPushResponse(push: PreparedPush, context: DeployContext, udfServerVersion: string) {
  const { analysis: appAnalysis } = push;
  const udfConfig = {
    serverVersion: udfServerVersion,
    importPhaseRngSeed: { $bytes: randomBytes(32).toString("base64") },
    importPhaseUnixTimestamp: { $integer: Buffer.from(new BigInt64Array([BigInt(Date.now())]).buffer).toString("base64") },
  };
  const analysis: Record<string, unknown> = {
    "": { definition: push.components.metadata.get(""), schema: appAnalysis.schema, functions: appAnalysis.modules, udfConfig },
  };
  for (const [definitionPath, definition] of push.components.definitions) {
    analysis[definitionPath] = { definition: definition.metadata, schema: definition.analysis.schema, functions: definition.analysis.modules, udfConfig };
  }
  return {
    environmentVariables: context.deployment.environment(),
    externalDepsId: null,
    componentDefinitionPackages: {},
    appAuth: appAnalysis.auth,
    analysis,
    app: checkedComponent(push, push.components.root),
    schemaChange: {
      allocatedComponentIds: {},
      schemaIds: { pushId: push.id },
      indexDiffs: indexDiffsByComponent(push),
    },
  };
}

/** Whether an instance is new, kept, or back after an unmount with the data it left (remount). */
function diffTypeOf(path: string, previousModules: string[], previousComponents: string[], storedComponents: string[]): string {
  if (path === "") return previousModules.length > 0 ? "modify" : "create";
  if (previousComponents.includes(path)) return "modify";
  return storedComponents.includes(path) ? "remount" : "create";
}

function finishPushDiff(push: PreparedPush, previousModules: string[], previousComponents: string[], storedComponents: string[]) {
  const next = [...push.modules.keys()];
  const indexDiffs = indexDiffsByComponent(push);
  const componentDiffs: Record<string, unknown> = {};
  for (const instance of instancesOf(push.components.root)) {
    const definition = instance.path === "" ? undefined : push.components.definitions.get(instance.definitionPath);
    const crons = (definition?.analysis ?? push.analysis).crons;
    componentDiffs[instance.path] = {
      diffType: { type: diffTypeOf(instance.path, previousModules, previousComponents, storedComponents) },
      moduleDiff: instance.path === ""
        ? { added: next.filter((path) => !previousModules.includes(path)), removed: previousModules.filter((path) => !next.includes(path)) }
        : { added: [...definition!.modules.keys()], removed: [] },
      udfConfigDiff: null,
      cronDiff: { added: crons.map((job) => job.name), updated: [], deleted: [] },
      indexDiff: indexDiffs[instance.path] ?? { added_indexes: [], removed_indexes: [] },
      schemaDiff: null,
    };
  }
  // An instance no longer in the tree is unmounted: its functions are gone, its tables and data kept.
  for (const path of previousComponents) {
    if (path in componentDiffs) continue;
    componentDiffs[path] = {
      diffType: { type: "unmount" },
      moduleDiff: { added: [], removed: [] },
      udfConfigDiff: null,
      cronDiff: { added: [], updated: [], deleted: [] },
      indexDiff: { added_indexes: [], removed_indexes: [] },
      schemaDiff: null,
    };
  }
  return { authDiff: { added: [], removed: [] }, definitionDiffs: {}, componentDiffs };
}
