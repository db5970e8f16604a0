/**
 * The executor side of push analysis: loads each pushed module in the executor's isolate and reads
 * what it exports — functions with their validators, the HTTP router's routes, crons and the
 * schema — into plain data (auth.config.js is evaluated in a run of its own: authConfig.ts) (analyze.ts puts the parts together on the main thread).
 * What it returns is structured-cloned to the backend and on to the query workers, so every value
 * the app's code hands over is checked to be a string before it is kept.
 */
import type { AnalyzedModule, AnalyzedSchema, CronJob, FunctionInfo, UdfType } from "../functions.js";
import type { CompiledModule } from "../modules.js";
import type { ValidatorJson } from "../validator.js";

type Load = (modulePath: string) => Record<string, unknown>;

interface ExportedFunction {
  isQuery?: boolean;
  isMutation?: boolean;
  isAction?: boolean;
  isPublic?: boolean;
  isInternal?: boolean;
  exportArgs?: () => unknown;
  exportReturns?: () => unknown;
}

/** A push the app's code or exports make invalid; `code` is Convex's for the refusal. */
export class PushAnalysisError extends Error {
  constructor(
    message: string,
    readonly code = "InvalidModules",
  ) {
    super(message);
    this.name = "PushAnalysisError";
  }
}

/** What one environment's modules export. */
export interface RawAnalysis {
  modules: Record<string, AnalyzedModule>;
  functions: FunctionInfo[];
  httpRoutes: { path: string; method: string }[] | null;
  crons: CronJob[];
  schema: AnalyzedSchema | null;
}

/** Loads `paths` (and, `withSchema`, schema.js) with `load` and reads their exports. */
export function inspectModules(load: Load, modules: ReadonlyMap<string, CompiledModule>, paths: string[], withSchema: boolean): RawAnalysis {
  const result: RawAnalysis = { modules: {}, functions: [], httpRoutes: null, crons: [], schema: null };
  for (const modulePath of paths) {
    const exports = load(modulePath);
    const analyzed: AnalyzedModule = { functions: [], httpRoutes: null, cronSpecs: null, sourceMapped: null };
    const environment = modules.get(modulePath)!.environment;
    for (const [name, value] of Object.entries(exports)) {
      const fn = value as ExportedFunction | undefined;
      const udfType: UdfType | undefined = fn?.isQuery ? "Query" : fn?.isMutation ? "Mutation" : fn?.isAction ? "Action" : undefined;
      if (udfType === undefined) continue;
      if (environment === "node" && udfType !== "Action") {
        throw new PushAnalysisError(`${modulePath}: \`${name}\` is a ${udfType.toLowerCase()} defined in a "use node" file; only actions can run in Node.`);
      }
      const visibility = fn!.isInternal ? "internal" : "public";
      const args = validatorJson(fn!.exportArgs?.(), modulePath, name);
      const returns = validatorJson(fn!.exportReturns?.(), modulePath, name);
      analyzed.functions.push({ name, pos: null, udfType, visibility: { kind: visibility }, args, returns });
      result.functions.push({
        path: `${modulePath.slice(0, -3)}:${name}`,
        udfType,
        visibility,
        args: parseValidator(args),
        returns: parseValidator(returns),
        environment,
      });
    }
    if (modulePath === "http.js") {
      result.httpRoutes = readRoutes(exports.default);
      analyzed.httpRoutes = result.httpRoutes.map((route) => ({ route, pos: null }));
    }
    if (modulePath === "crons.js" && exports.default !== undefined) {
      result.crons = readCrons(exports.default);
      analyzed.cronSpecs = result.crons.map((job) => ({
        identifier: job.name,
        cronSpec: { udfPath: job.udfPath, udfArgs: JSON.stringify(job.args), cronSchedule: job.schedule },
      }));
    }
    result.modules[modulePath] = analyzed;
  }
  if (withSchema && modules.has("schema.js")) result.schema = readSchema(load("schema.js").default);
  return result;
}

/** A validator as the `convex` package exports it: a JSON string, or absent. */
function validatorJson(exported: unknown, modulePath: string, name: string): string | null {
  if (exported === undefined || exported === null) return null;
  if (typeof exported !== "string") throw new PushAnalysisError(`${modulePath}: the validator of \`${name}\` did not export as JSON text`);
  return exported;
}

function parseValidator(json: string | null): ValidatorJson | null {
  if (json === null) return null;
  const parsed = JSON.parse(json) as ValidatorJson | null;
  return parsed === null || parsed.type === "any" ? null : parsed;
}

function readRoutes(router: unknown): { path: string; method: string }[] {
  const { isRouter, getRoutes } = (router ?? {}) as { isRouter?: boolean; getRoutes?: () => unknown };
  if (!isRouter || typeof getRoutes !== "function") throw new PushAnalysisError("convex/http.ts must default-export an HttpRouter (`export default http`)");
  const routes = getRoutes.call(router);
  if (!Array.isArray(routes)) throw new PushAnalysisError("convex/http.ts: the router's getRoutes() did not return a list");
  return routes.map((route: unknown) => {
    const [path, method] = Array.isArray(route) ? (route as unknown[]) : [];
    if (typeof path !== "string" || typeof method !== "string") throw new PushAnalysisError("convex/http.ts: a route's path and method must be strings");
    return { path, method };
  });
}

function readCrons(crons: unknown): CronJob[] {
  const exported = (crons as { export?: () => string }).export;
  if (typeof exported !== "function") throw new PushAnalysisError("convex/crons.ts must default-export the result of `cronJobs()`");
  const specs = JSON.parse(exported.call(crons)) as Record<string, { name: string; args: unknown[]; schedule: CronJob["schedule"] }>;
  return Object.entries(specs).map(([name, spec]) => ({ name, udfPath: spec.name, args: spec.args, schedule: spec.schedule }));
}

function readSchema(schema: unknown): AnalyzedSchema {
  const exported = (schema as { export?: () => string } | undefined)?.export;
  if (typeof exported !== "function") throw new PushAnalysisError("convex/schema.ts must default-export the result of `defineSchema(...)`");
  const parsed = JSON.parse(exported.call(schema)) as {
    tables: {
      tableName: string;
      indexes: { indexDescriptor: string; fields: string[] }[];
      stagedDbIndexes?: { indexDescriptor: string; fields: string[] }[];
      searchIndexes?: unknown[];
      stagedSearchIndexes?: unknown[];
      vectorIndexes?: unknown[];
      stagedVectorIndexes?: unknown[];
      documentType: ValidatorJson | null;
    }[];
    schemaValidation: boolean;
  };
  return {
    schemaValidation: parsed.schemaValidation,
    tables: parsed.tables.map((table) => ({
      tableName: table.tableName,
      indexes: table.indexes.map(({ indexDescriptor, fields }) => ({ indexDescriptor, fields })),
      searchIndexes: table.searchIndexes ?? [],
      stagedIndexes: (table.stagedDbIndexes ?? []).map(({ indexDescriptor, fields }) => ({ indexDescriptor, fields })),
      stagedSearchIndexes: table.stagedSearchIndexes ?? [],
      vectorIndexes: table.vectorIndexes ?? [],
      stagedVectorIndexes: table.stagedVectorIndexes ?? [],
      documentType: table.documentType === null || table.documentType.type === "any" ? null : table.documentType,
    })),
  };
}
