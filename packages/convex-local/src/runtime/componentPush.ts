/**
 * The components part of a push (`appDefinition.definition` and `componentDefinitions` of the CLI's
 * start_push body): every `convex.config.js` is evaluated in an executor, leaves first, each seeing
 * the components it `use`s as synthetic `_componentDeps/<base64url of the definition path>` modules
 * (as Convex's definition environment, crates/isolate/src/environment/component_definitions.rs);
 * each definition's modules are analyzed like the app's; the app's definition gives the tree of
 * instances; and every instance's modules and functions join the app's in one flat catalog under the
 * instance's namespace (components.ts). A cycle, a definition the push lacks, a name used twice or a
 * definition that throws refuse the push with Convex's code for it, InvalidConvexConfig.
 */
import { PushAnalysisError } from "./actionExecution/moduleAnalysis.js";
import { analyzeModules } from "./analyze.js";
import { instancesOf, namespaceOf, qualifiedPath, type ComponentInstance } from "./components.js";
import type { AnalyzedSchema, DeploymentAnalysis, EnvBinding, FunctionInfo } from "./functions.js";
import { compileModule, type CompiledModule, type ModuleSource } from "./modules.js";
import type { FunctionRunner } from "./runner.js";

/** One component definition as the CLI pushes it (the CLI's ComponentDefinitionConfig). */
export interface ComponentDefinitionSource {
  definitionPath: string;
  definition: ModuleSource;
  dependencies: string[];
  schema: ModuleSource | null;
  functions: ModuleSource[];
}

/** What a push says about components; kept with the modules so a restart rebuilds the same tree. */
export interface ComponentsSource {
  /** The app's convex.config.js (null when the app has none). */
  appDefinition: ModuleSource | null;
  definitions: ComponentDefinitionSource[];
}

/** A definition's description, as start_push reports it (the CLI's componentDefinitionMetadata). */
export interface DefinitionMetadata {
  path: string;
  /** `httpPrefix`: `defineApp({ httpPrefix })`, under which the app's own `http.js` routes are served (httpRouting.ts). */
  definitionType: { type: "app"; httpPrefix?: string } | { type: "childComponent"; name: string; args: unknown[] };
  childComponents: { name: string; path: string; args?: unknown[]; env?: [string, EnvBinding][] | null }[];
  httpMounts: Record<string, string>;
  exports: { type: "branch"; branch: unknown[] };
  /** The environment variables it declares (`defineComponent(name, { env })`, `defineApp({ env })`): name → validator JSON text. */
  envVars?: [string, { type: "value"; value: string; optional?: boolean }][];
}

export interface EvaluatedDefinition {
  metadata: DefinitionMetadata;
  modules: Map<string, CompiledModule>;
  analysis: DeploymentAnalysis;
}

export interface EvaluatedComponents {
  root: ComponentInstance;
  /** The app's definition ("" key) and every component definition, by definition path. */
  metadata: Map<string, DefinitionMetadata>;
  definitions: Map<string, EvaluatedDefinition>;
}

const NO_COMPONENTS_ROOT: DefinitionMetadata = { path: "", definitionType: { type: "app" }, childComponents: [], httpMounts: {}, exports: { type: "branch", branch: [] } };

function invalidConfig(message: string): PushAnalysisError {
  return new PushAnalysisError(message, "InvalidConvexConfig");
}

/** Evaluates the push's definitions and analyzes each component definition's modules. */
export async function evaluateComponents(runner: FunctionRunner, source: ComponentsSource): Promise<EvaluatedComponents> {
  const byPath = new Map<string, ComponentDefinitionSource>();
  for (const definition of source.definitions) {
    if (definition.definitionPath === "" || byPath.has(definition.definitionPath)) throw invalidConfig(`Component definition path ${JSON.stringify(definition.definitionPath)} was pushed twice or is empty.`);
    byPath.set(definition.definitionPath, definition);
  }
  const metadata = new Map<string, DefinitionMetadata>();
  if (source.appDefinition === null) {
    if (byPath.size > 0) throw invalidConfig("Component definitions were pushed without an app definition (convex.config.ts).");
    metadata.set("", NO_COMPONENTS_ROOT);
    return { root: { path: "", definitionPath: "", children: {} }, metadata, definitions: new Map() };
  }
  for (const definitionPath of evaluationOrder(byPath)) {
    const definition = byPath.get(definitionPath)!;
    metadata.set(definitionPath, await evaluateDefinition(runner, definitionPath, definition.definition, metadata));
  }
  metadata.set("", await evaluateDefinition(runner, "", source.appDefinition, metadata));

  const definitions = new Map<string, EvaluatedDefinition>();
  for (const [definitionPath, definition] of byPath) {
    const modules = new Map<string, CompiledModule>();
    for (const module of definition.functions) modules.set(module.path, compileModule(module));
    if (definition.schema !== null) modules.set("schema.js", compileModule(definition.schema));
    let analysis: DeploymentAnalysis;
    try {
      analysis = await analyzeModules(runner, modules);
    } catch (error) {
      if (error instanceof PushAnalysisError) throw new PushAnalysisError(`In component definition ${definitionPath}: ${error.message}`, error.code);
      throw error;
    }
    const meta = metadata.get(definitionPath)!;
    meta.exports = fileBasedExports(analysis);
    definitions.set(definitionPath, { metadata: meta, modules, analysis });
  }
  return { root: instantiate("", "", metadata, new Set()), metadata, definitions };
}

/** Definition paths, each after the definitions it uses; a cycle or a missing definition is refused. */
function evaluationOrder(byPath: Map<string, ComponentDefinitionSource>): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (definitionPath: string, trail: string[]) => {
    if (state.get(definitionPath) === "done") return;
    if (state.get(definitionPath) === "visiting") throw invalidConfig(`Component definitions form a cycle: ${[...trail, definitionPath].join(" -> ")}`);
    const definition = byPath.get(definitionPath);
    if (definition === undefined) throw invalidConfig(`Component definition ${definitionPath} is used by ${trail.at(-1) ?? "the app"} but was not pushed.`);
    state.set(definitionPath, "visiting");
    for (const dependency of definition.dependencies) visit(dependency, [...trail, definitionPath]);
    state.set(definitionPath, "done");
    order.push(definitionPath);
  };
  for (const definitionPath of byPath.keys()) visit(definitionPath, []);
  return order;
}

/** Runs one convex.config.js in an executor, with the definitions it imports as synthetic modules. */
async function evaluateDefinition(runner: FunctionRunner, definitionPath: string, module: ModuleSource, evaluated: Map<string, DefinitionMetadata>): Promise<DefinitionMetadata> {
  const modules = new Map<string, CompiledModule>([[module.path, compileModule(module)]]);
  for (const [dependencyPath, dependency] of evaluated) {
    if (dependencyPath === "" || dependency.definitionType.type !== "childComponent") continue;
    const synthetic = `export default { export: () => (${JSON.stringify(dependency)}), componentDefinitionPath: ${JSON.stringify(dependencyPath)}, defaultName: ${JSON.stringify(dependency.definitionType.name)} };\n`;
    const path = `_componentDeps/${Buffer.from(dependencyPath).toString("base64url")}`;
    modules.set(path, compileModule({ path, source: synthetic, environment: "isolate" }));
  }
  const where = definitionPath === "" ? "the app's convex.config" : `the convex.config of ${definitionPath}`;
  let exported: string;
  try {
    exported = await runner.evaluate<string>(modules, { kind: "componentDefinition", modulePath: module.path }, false);
  } catch (error) {
    throw invalidConfig(`Evaluating ${where} failed: ${(error as Error).message}`);
  }
  const parsed = JSON.parse(exported) as Omit<DefinitionMetadata, "path"> & { name?: string; httpPrefix?: string };
  const httpPrefix = definitionPath === "" ? parsed.httpPrefix : undefined;
  if (httpPrefix !== undefined && (typeof httpPrefix !== "string" || !httpPrefix.startsWith("/") || !httpPrefix.endsWith("/"))) {
    throw invalidConfig(`In ${where}: the app's httpPrefix ${JSON.stringify(httpPrefix)} must start and end with "/".`);
  }
  const names = new Set<string>();
  for (const child of parsed.childComponents ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(child.name)) throw invalidConfig(`In ${where}: invalid component name ${JSON.stringify(child.name)}: names are identifiers (letters, digits, underscores).`);
    if (names.has(child.name)) throw invalidConfig(`In ${where}: the component name ${JSON.stringify(child.name)} is used twice. Give one of them another name: app.use(component, { name: "..." }).`);
    names.add(child.name);
    if (!evaluated.has(child.path)) throw invalidConfig(`In ${where}: the component ${JSON.stringify(child.name)} uses definition ${child.path}, which was not pushed.`);
    const declared = new Set((evaluated.get(child.path)!.envVars ?? []).map(([name]) => name));
    for (const [variable, binding] of child.env ?? []) {
      const shaped = (binding?.type === "value" && typeof binding.value === "string") || (binding?.type === "envVar" && typeof binding.name === "string");
      if (!shaped) throw invalidConfig(`In ${where}: the env binding ${JSON.stringify(variable)} of component ${JSON.stringify(child.name)} is neither a string value nor an env var reference.`);
      // Convex's TypecheckError text (type_checking.rs validate_component_env).
      if (!declared.has(variable)) throw invalidConfig(`Component "${child.name}" has no env var named ${JSON.stringify(variable)} (declare it in its defineComponent's env).`);
    }
  }
  return {
    path: definitionPath,
    definitionType: definitionPath === "" ? { type: "app", ...(httpPrefix === undefined ? {} : { httpPrefix }) } : { type: "childComponent", name: parsed.name ?? (parsed.definitionType as { name: string }).name, args: [] },
    childComponents: (parsed.childComponents ?? []).map((child) => ({ name: child.name, path: child.path, args: [], env: child.env ?? null })),
    httpMounts: parsed.httpMounts ?? {},
    exports: { type: "branch", branch: [] },
    ...(Array.isArray(parsed.envVars) ? { envVars: parsed.envVars } : {}),
  };
}

function instantiate(componentPath: string, definitionPath: string, metadata: Map<string, DefinitionMetadata>, ancestors: Set<string>): ComponentInstance {
  if (ancestors.has(definitionPath)) throw invalidConfig(`Component definitions form a cycle at ${definitionPath}`);
  const children: Record<string, ComponentInstance> = {};
  const inner = new Set([...ancestors, definitionPath]);
  for (const child of metadata.get(definitionPath)!.childComponents) {
    children[child.name] = instantiate(componentPath === "" ? child.name : `${componentPath}/${child.name}`, child.path, metadata, inner);
  }
  return { path: componentPath, definitionPath, children };
}

/** A component definition's public functions as its exports tree (crates/model/src/components/file_based_routing.rs). */
function fileBasedExports(analysis: DeploymentAnalysis): DefinitionMetadata["exports"] {
  type Node = Map<string, Node | string>;
  const root: Node = new Map();
  for (const info of analysis.functions.values()) {
    if (info.visibility !== "public") continue;
    const [modulePath, name] = info.path.split(":");
    let node = root;
    for (const part of modulePath.split("/")) {
      let next = node.get(part);
      if (typeof next === "string") throw invalidConfig(`Path ${modulePath}:${name} conflicts with an existing export`);
      if (next === undefined) node.set(part, (next = new Map()));
      node = next;
    }
    node.set(name, `_reference/function/${modulePath}.js:${name}`);
  }
  const serialize = (node: Node): { type: "branch"; branch: unknown[] } => ({
    type: "branch",
    branch: [...node].map(([key, child]) => [key, typeof child === "string" ? { type: "leaf", leaf: child } : serialize(child)]),
  });
  return serialize(root);
}

/**
 * The app's modules and analysis with every component instance's joined under its namespace (modules,
 * their analyses, functions, crons): the flat catalog the runner installs and the scheduler reads.
 */
export function flattenComponents(modules: Map<string, CompiledModule>, analysis: DeploymentAnalysis, components: EvaluatedComponents): { modules: Map<string, CompiledModule>; analysis: DeploymentAnalysis } {
  const allModules = new Map(modules);
  const functions = new Map<string, FunctionInfo>(analysis.functions);
  const analyzedModules = { ...analysis.modules };
  const crons = [...analysis.crons];
  const componentSchemas: Record<string, AnalyzedSchema | null> = {};
  const httpMounts: Record<string, Record<string, string>> = {};
  const componentEnv = environmentsOf(components);
  for (const instance of instancesOf(components.root)) {
    const mounts = httpMountsOf(components.metadata.get(instance.definitionPath));
    if (Object.keys(mounts).length > 0) httpMounts[namespaceOf(instance.path)] = mounts;
    if (instance.path === "") continue;
    const namespace = namespaceOf(instance.path);
    const definition = components.definitions.get(instance.definitionPath)!;
    for (const [path, module] of definition.modules) allModules.set(qualifiedPath(namespace, path), { ...module, path: qualifiedPath(namespace, path) });
    for (const info of definition.analysis.functions.values()) functions.set(qualifiedPath(namespace, info.path), { ...info, path: qualifiedPath(namespace, info.path) });
    for (const [path, module] of Object.entries(definition.analysis.modules)) analyzedModules[qualifiedPath(namespace, path)] = module;
    for (const job of definition.analysis.crons) crons.push({ ...job, name: qualifiedPath(namespace, job.name), udfPath: qualifiedPath(namespace, job.udfPath) });
    componentSchemas[namespace] = definition.analysis.schema;
  }
  checkMountOverlaps(httpMounts, analyzedModules);
  const root = components.metadata.get("")?.definitionType;
  const httpPrefix = root?.type === "app" ? root.httpPrefix : undefined;
  return { modules: allModules, analysis: { ...analysis, modules: analyzedModules, functions, crons, componentSchemas, httpMounts, componentEnv, ...(httpPrefix === undefined ? {} : { httpPrefix }) } };
}

/**
 * Every component instance's environment variables: the bindings its parent's `use(x, { env })`
 * gives it, a binding to the parent's own variable replaced by the parent's binding of it (a
 * component's variable the parent does not bind is left out), as Convex's type checking resolves
 * them (crates/model/src/components/type_checking.rs); the app's children bind deployment variables.
 */
function environmentsOf(components: EvaluatedComponents): Record<string, Record<string, EnvBinding>> {
  const environments: Record<string, Record<string, EnvBinding>> = {};
  const visit = (instance: ComponentInstance, own: Record<string, EnvBinding> | undefined) => {
    const metadata = components.metadata.get(instance.definitionPath);
    for (const [name, child] of Object.entries(instance.children)) {
      const given = metadata?.childComponents.find((candidate) => candidate.name === name)?.env ?? [];
      const resolved: Record<string, EnvBinding> = {};
      for (const [variable, binding] of given) {
        const value = binding.type === "envVar" && own !== undefined ? own[binding.name] : binding;
        if (value !== undefined) resolved[variable] = value;
      }
      environments[namespaceOf(child.path)] = resolved;
      visit(child, resolved);
    }
  };
  visit(components.root, undefined);
  return environments;
}

/**
 * Convex refuses a mount at the path of one of its namespace's own prefix routes (a route
 * `/x/*` and a child mounted at `/x/`): crates/model/src/components/type_checking.rs `mount`,
 * `HttpActionRoute::overlaps_with_mount` (a bare `*` route is `/*`).
 */
function checkMountOverlaps(httpMounts: Record<string, Record<string, string>>, modules: DeploymentAnalysis["modules"]): void {
  for (const [namespace, mounts] of Object.entries(httpMounts)) {
    for (const { route } of modules[qualifiedPath(namespace, "http.js")]?.httpRoutes ?? []) {
      if (!route.path.endsWith("*")) continue;
      const prefix = route.path.slice(0, -1) || "/";
      if (mounts[prefix] !== undefined) throw new PushAnalysisError(`HTTP mount ${JSON.stringify(prefix)} is invalid: Overlap with existing prefix route`, "TypecheckError");
    }
  }
}

/** A definition's HTTP mounts (mount path → `_reference/childComponent/<name>`) as mount path → child name. */
function httpMountsOf(metadata: DefinitionMetadata | undefined): Record<string, string> {
  const mounts: Record<string, string> = {};
  for (const [mountPath, reference] of Object.entries(metadata?.httpMounts ?? {})) {
    const child = /^_reference\/childComponent\/([^/]+)$/.exec(reference)?.[1];
    // convex.config's `use` only makes references to its own children (convex/server buildHttpMounts).
    if (child === undefined) throw invalidConfig(`HTTP mount ${JSON.stringify(mountPath)} is invalid: ${JSON.stringify(reference)} is not a child component`);
    if (!mountPath.startsWith("/") || !mountPath.endsWith("/")) throw invalidConfig(`HTTP mount ${JSON.stringify(mountPath)} is invalid: it must start and end with "/"`);
    mounts[mountPath] = child;
  }
  return mounts;
}
