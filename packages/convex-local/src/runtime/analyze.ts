/**
 * Push-time analysis: loads every pushed module once and reads what it exports — functions with
 * their validators, the HTTP router's routes, crons, the schema and the auth providers — into the
 * shapes `start_push` reports and the runner uses.
 */
import type {
  AnalyzedModule,
  AnalyzedSchema,
  AuthProvider,
  CronJob,
  DeploymentAnalysis,
  FunctionInfo,
  UdfType,
} from "./functions.js";
import { isFunctionModule } from "./functions.js";
import type { CompiledModule } from "./modules.js";
import type { FunctionRunner } from "./runner.js";
import type { ValidatorJson } from "./validator.js";

type Load = (modulePath: string) => Record<string, unknown>;

interface ExportedFunction {
  isQuery?: boolean;
  isMutation?: boolean;
  isAction?: boolean;
  isPublic?: boolean;
  isInternal?: boolean;
  exportArgs?: () => string;
  exportReturns?: () => string;
}

export class PushAnalysisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PushAnalysisError";
  }
}

interface RawAnalysis {
  modules: Record<string, AnalyzedModule>;
  functions: FunctionInfo[];
  httpRoutes: { path: string; method: string }[] | null;
  crons: CronJob[];
  schema: AnalyzedSchema | null;
  auth: AuthProvider[];
}

export async function analyzeModules(runner: FunctionRunner, modules: ReadonlyMap<string, CompiledModule>): Promise<DeploymentAnalysis> {
  const byEnvironment = { isolate: [] as string[], node: [] as string[] };
  for (const module of modules.values()) {
    if (isFunctionModule(module.path)) byEnvironment[module.environment].push(module.path);
  }
  const isolatePart = await runner.evaluate(modules, (load) => inspectModules(load, modules, byEnvironment.isolate, true), false);
  const nodePart =
    byEnvironment.node.length === 0
      ? undefined
      : await runner.evaluate(modules, (load) => inspectModules(load, modules, byEnvironment.node, false), true);
  const functions = new Map<string, FunctionInfo>();
  for (const info of [...isolatePart.functions, ...(nodePart?.functions ?? [])]) functions.set(info.path, info);
  return {
    modules: { ...isolatePart.modules, ...(nodePart?.modules ?? {}) },
    functions,
    httpRoutes: isolatePart.httpRoutes,
    crons: isolatePart.crons,
    schema: isolatePart.schema,
    auth: isolatePart.auth,
  };
}

function inspectModules(load: Load, modules: ReadonlyMap<string, CompiledModule>, paths: string[], withConfig: boolean): RawAnalysis {
  const result: RawAnalysis = { modules: {}, functions: [], httpRoutes: null, crons: [], schema: null, auth: [] };
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
      const args = fn!.exportArgs?.() ?? null;
      const returns = fn!.exportReturns?.() ?? null;
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
      const router = exports.default as { isRouter?: boolean; getRoutes?: () => [string, string, unknown][] } | undefined;
      if (!router?.isRouter || typeof router.getRoutes !== "function") {
        throw new PushAnalysisError("convex/http.ts must default-export an HttpRouter (`export default http`)");
      }
      result.httpRoutes = router.getRoutes().map(([path, method]) => ({ path, method }));
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
  if (withConfig) {
    if (modules.has("schema.js")) result.schema = readSchema(load("schema.js").default);
    if (modules.has("auth.config.js")) result.auth = readAuthConfig(load("auth.config.js").default);
  }
  return result;
}

function parseValidator(json: string | null): ValidatorJson | null {
  if (json === null) return null;
  const parsed = JSON.parse(json) as ValidatorJson | null;
  return parsed === null || parsed.type === "any" ? null : parsed;
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
    tables: { tableName: string; indexes: { indexDescriptor: string; fields: string[] }[]; searchIndexes?: unknown[]; vectorIndexes?: unknown[]; documentType: ValidatorJson | null }[];
    schemaValidation: boolean;
  };
  return {
    schemaValidation: parsed.schemaValidation,
    tables: parsed.tables.map((table) => ({
      tableName: table.tableName,
      indexes: table.indexes.map(({ indexDescriptor, fields }) => ({ indexDescriptor, fields })),
      searchIndexes: table.searchIndexes ?? [],
      vectorIndexes: table.vectorIndexes ?? [],
      documentType: table.documentType === null || table.documentType.type === "any" ? null : table.documentType,
    })),
  };
}

function readAuthConfig(config: unknown): AuthProvider[] {
  const providers = (config as { providers?: unknown[] } | undefined)?.providers;
  if (!Array.isArray(providers)) throw new PushAnalysisError("convex/auth.config.ts must default-export `{ providers: [...] }`");
  return providers.map((provider, index) => {
    const p = provider as Record<string, unknown>;
    if (p.type === "customJwt") {
      for (const field of ["issuer", "jwks", "algorithm"]) {
        if (typeof p[field] !== "string" || p[field] === "") {
          throw new PushAnalysisError(`auth.config.ts provider ${index}: customJwt needs a string \`${field}\``);
        }
      }
      return {
        type: "customJwt",
        applicationID: typeof p.applicationID === "string" ? p.applicationID : null,
        issuer: p.issuer as string,
        jwks: p.jwks as string,
        algorithm: p.algorithm as string,
      };
    }
    if (typeof p.domain !== "string" || p.domain === "" || typeof p.applicationID !== "string") {
      throw new PushAnalysisError(`auth.config.ts provider ${index}: an OIDC provider needs string \`domain\` and \`applicationID\``);
    }
    return { domain: p.domain, applicationID: p.applicationID };
  });
}
