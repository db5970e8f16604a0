/**
 * The deployment's durable configuration — pushed modules, environment variables — and the push
 * lifecycle the official CLI drives: prepare (compile + analyze), check the schema against stored
 * documents, then commit indexes and modules in one transaction.
 */
import { randomUUID } from "node:crypto";
import type { Storage } from "../storage/index.js";
import { analyzeModules } from "./analyze.js";
import type { AnalyzedSchema, AuthProvider, CronJob, DeploymentAnalysis } from "./functions.js";
import { compileModule, type CompiledModule, type ModuleSource } from "./modules.js";
import type { FunctionRunner } from "./runner.js";
import { commitInPushWorker, validateInPushWorker } from "./pushWork.js";
import { applyPush, PUSH_META_KEYS, type PushWrite } from "./pushWrite.js";
import { schemasOf, tablesToValidate, type SchemaStatus } from "./schemaValidation.js";
import { evaluateComponents, flattenComponents, type ComponentsSource, type EvaluatedComponents } from "./componentPush.js";
import { componentPathOf, instancesOf, isSystemTableName, localName, namespaceOf, namespaceOfName, storedTableName } from "./components.js";
import { ensureNamespaceSystemTables } from "./namespaceSystemTables.js";
import { vectorIndexDiff, vectorIndexProblem } from "./vectorIndexPush.js";
import { textIndexDiff } from "./textIndexPush.js";

const ENV_KEY = "deployment/environment";

export interface PushRequest {
  modules: ModuleSource[];
  /** Modules the CLI sent as hashes only: taken from the current push. */
  unchangedHashes: { path: string; environment: string; sha256: string }[];
  schemaModule: ModuleSource | null;
  /** The `convex` package version the CLI pushes with (`appDefinition.udfServerVersion`). */
  udfServerVersion?: string;
  /** The app's convex.config.js and the component definitions (componentPush.ts). */
  components?: ComponentsSource;
}

export interface PreparedPush {
  id: string;
  /** The app's own modules and their analysis. */
  modules: Map<string, CompiledModule>;
  analysis: DeploymentAnalysis;
  /** The component tree and its definitions. */
  components: EvaluatedComponents;
  componentsSource: ComponentsSource;
  /** What the runner installs: the app's and every component instance's modules and functions (componentPush.ts). */
  installed: { modules: Map<string, CompiledModule>; analysis: DeploymentAnalysis };
  indexDiff: IndexDiff;
  udfServerVersion?: string;
}

/** Index changes; `namespace` is the component's (components.ts), "" for the app's tables. */
export interface IndexDiff {
  added: IndexChange[];
  removed: IndexChange[];
}

/** One index change; `config`, when present, is the index as the CLI prints it (vector indexes: vectorIndexPush.ts), else a database index of `fields`. */
export interface IndexChange {
  namespace: string;
  table: string;
  name: string;
  fields: string[];
  config?: Record<string, unknown>;
}

const NO_COMPONENTS: ComponentsSource = { appDefinition: null, definitions: [] };

export type { SchemaStatus } from "./schemaValidation.js";

export class PushError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PushError";
  }
}

export class DeploymentState {
  private modules = new Map<string, CompiledModule>();
  /** The component paths of the running push's instances (components.ts; the app's "" included). */
  private componentPaths: string[] = [];
  private readonly pending = new Map<string, PreparedPush>();
  private environmentCache: Record<string, string> | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly runner: FunctionRunner,
  ) {}

  /** Loads the last committed push, so functions are served again after a restart. */
  async restore(): Promise<void> {
    const sources = this.storage.getMeta<ModuleSource[]>(PUSH_META_KEYS.modules);
    if (sources === undefined) return;
    const modules = new Map(sources.map((source) => [source.path, compileModule(source)]));
    const analysis = await analyzeModules(this.runner, modules);
    const components = await evaluateComponents(this.runner, this.storage.getMeta<ComponentsSource>(PUSH_META_KEYS.components) ?? NO_COMPONENTS);
    this.modules = modules;
    this.componentPaths = instancesOf(components.root).map((instance) => instance.path);
    // Restored before anything runs: a data directory from before components had their own system tables gets them now.
    ensureNamespaceSystemTables(this.storage, this.componentPaths.map(namespaceOf));
    await this.runner.install({ ...flattenComponents(modules, analysis, components), udfServerVersion: this.storage.getMeta<string>(PUSH_META_KEYS.udfServerVersion) });
  }

  authInfo(): AuthProvider[] {
    return this.runner.analysis?.auth ?? [];
  }

  get crons(): CronJob[] {
    return this.runner.analysis?.crons ?? [];
  }

  /** The deployment's variables; read on every function call, so kept in memory (this process is the only writer). */
  environment(): Readonly<Record<string, string>> {
    this.environmentCache ??= this.storage.getMeta<Record<string, string>>(ENV_KEY) ?? {};
    return this.environmentCache;
  }

  /** Applies `{name, value}` changes; a null value removes the variable. Written between mutation batches, as the backend's own writes are. */
  async updateEnvironment(changes: { name: string; value: string | null }[]): Promise<void> {
    const environment = { ...this.environment() };
    for (const { name, value } of changes) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]{0,39}$/.test(name)) {
        throw new PushError(`Invalid environment variable name: "${name}". Names must start with a letter or underscore and contain only letters, digits and underscores (at most 40 characters).`);
      }
      if (value === null) delete environment[name];
      else if (value.length > 8192) throw new PushError(`Environment variable ${name} is too long (${value.length} > 8192 characters)`);
      else environment[name] = value;
    }
    await this.runner.systemWrite(() => this.storage.setMeta(ENV_KEY, environment));
    this.environmentCache = environment;
  }

  moduleHashes(): { path: string; environment: string; sha256: string }[] {
    return [...this.modules.values()].map(({ path, environment, sha256 }) => ({ path, environment, sha256 }));
  }

  /** Compiles and analyzes a push without changing anything yet. */
  async prepare(request: PushRequest): Promise<PreparedPush> {
    const modules = new Map<string, CompiledModule>();
    for (const source of request.modules) modules.set(source.path, compileModule(source));
    for (const hash of request.unchangedHashes) {
      const existing = this.modules.get(hash.path);
      if (existing === undefined || existing.sha256 !== hash.sha256) {
        throw new PushError(`Module ${hash.path} was sent as unchanged, but this deployment has no module with hash ${hash.sha256}. Push again.`);
      }
      modules.set(hash.path, existing);
    }
    if (request.schemaModule !== null) modules.set("schema.js", compileModule(request.schemaModule));
    const analysis = await analyzeModules(this.runner, modules);
    const componentsSource = request.components ?? NO_COMPONENTS;
    const components = await evaluateComponents(this.runner, componentsSource);
    const installed = flattenComponents(modules, analysis, components);
    const vectorProblem = vectorIndexProblem(schemasOf(installed.analysis));
    if (vectorProblem !== null) throw new PushError(vectorProblem);
    const prepared: PreparedPush = {
      id: randomUUID(),
      modules,
      analysis,
      components,
      componentsSource,
      installed,
      indexDiff: this.indexDiff(schemasOf(installed.analysis)),
      udfServerVersion: request.udfServerVersion,
    };
    this.pending.set(prepared.id, prepared);
    // Keep only a few unfinished pushes (an abandoned CLI run must not hold memory forever).
    while (this.pending.size > 4) this.pending.delete(this.pending.keys().next().value!);
    return prepared;
  }

  /**
   * Checks the stored documents the push's schema may refuse (schemaValidation.ts), in a push
   * worker: reading a large table never holds the main thread. A push that narrows no validator
   * reads nothing.
   */
  async schemaStatus(pushId: string): Promise<SchemaStatus> {
    const push = this.requirePending(pushId);
    const tables = tablesToValidate(this.storage, schemasOf(push.installed.analysis), this.runner.analysis);
    if (tables.length === 0) return { type: "complete" };
    return await validateInPushWorker(this.storage.path, tables);
  }

  /** Commits a prepared push: indexes (backfilled) and modules in one transaction, then serves it (resolving once its code is loaded where functions run). */
  /**
   * `previousComponents`: the component paths the push replaced, and `storedComponents` those with
   * tables before it (an unmounted instance's data is kept), to tell created, kept, remounted and
   * removed instances apart.
   */
  async finish(pushId: string): Promise<{ push: PreparedPush; previousModules: string[]; previousComponents: string[]; storedComponents: string[] }> {
    const push = this.requirePending(pushId);
    const previousModules = [...this.modules.keys()];
    const previousComponents = this.componentPaths;
    const storedComponents = [...new Set(this.storage.listTables().map(({ name }) => componentPathOf(namespaceOfName(name))))];
    const schemas = schemasOf(push.installed.analysis);
    const write: PushWrite = {
      schemas,
      namespaces: instancesOf(push.components.root).map((instance) => namespaceOf(instance.path)),
      modules: [...push.modules.values()],
      schema: push.analysis.schema,
      componentsSource: push.componentsSource,
      udfServerVersion: push.udfServerVersion,
    };
    const tables = tablesToValidate(this.storage, schemas, this.runner.analysis);
    if (tables.length === 0 && push.indexDiff.added.length === 0) {
      // Nothing to read or backfill: written between mutation batches, on the main thread's connection.
      await this.runner.systemWrite(() => applyPush(this.storage, write));
    } else {
      // Checked and written in one transaction of the push worker, while the backend goes on serving.
      const status = await this.runner.writeElsewhere(async () => {
        const { status, commitTs } = await commitInPushWorker(this.storage.path, tables, write);
        return { commitTs, result: status };
      });
      if (status.type === "failed") throw new PushError(status.error);
    }
    this.pending.delete(pushId);
    this.modules = push.modules;
    this.componentPaths = instancesOf(push.components.root).map((instance) => instance.path);
    await this.runner.install({ ...push.installed, udfServerVersion: push.udfServerVersion });
    return { push, previousModules, previousComponents, storedComponents };
  }

  private indexDiff(schemas: Map<string, AnalyzedSchema | null>): IndexDiff {
    const diff: IndexDiff = { added: [], removed: [] };
    const next = new Map<string, string>();
    const staged = new Set<string>();
    for (const [namespace, schema] of schemas) {
      for (const table of schema?.tables ?? []) {
        for (const index of [...table.indexes, ...(table.stagedIndexes ?? [])]) next.set(`${storedTableName(namespace, table.tableName)}.${index.indexDescriptor}`, JSON.stringify(index.fields));
        for (const index of table.stagedIndexes ?? []) staged.add(`${storedTableName(namespace, table.tableName)}.${index.indexDescriptor}`);
      }
    }
    const current = new Map<string, string>();
    for (const { name: table } of this.storage.listTables()) {
      if (isSystemTableName(table)) continue;
      for (const index of this.storage.listIndexes(table)) {
        if (index.name === "by_id" || index.name === "by_creation_time") continue;
        current.set(`${table}.${index.name}`, JSON.stringify(index.fields));
      }
    }
    const describe = (key: string, fields: string) => {
      const dot = key.lastIndexOf(".");
      const stored = key.slice(0, dot);
      const change: IndexChange = { namespace: namespaceOfName(stored), table: localName(stored), name: key.slice(dot + 1), fields: JSON.parse(fields) as string[] };
      // A staged index is listed as such ("Added staged table indexes"), as Convex reports it.
      if (staged.has(key)) change.config = { type: "database", fields: change.fields, staged: true };
      return change;
    };
    for (const [key, fields] of next) if (current.get(key) !== fields) diff.added.push(describe(key, fields));
    for (const [key, fields] of current) if (next.get(key) !== fields) diff.removed.push(describe(key, fields));
    const vectors = vectorIndexDiff(this.storage, schemas);
    diff.added.push(...vectors.added);
    diff.removed.push(...vectors.removed);
    const searches = textIndexDiff(this.storage, schemas);
    diff.added.push(...searches.added);
    diff.removed.push(...searches.removed);
    return diff;
  }

  private requirePending(pushId: string): PreparedPush {
    const push = this.pending.get(pushId);
    if (push === undefined) throw new PushError("This push is unknown or already finished (the backend may have restarted). Push again.");
    return push;
  }
}

