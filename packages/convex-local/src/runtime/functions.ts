/**
 * What a push tells us about the deployment's functions: which exports are queries, mutations and
 * actions, their visibility and validators, the HTTP routes, the crons, the schema and auth config.
 */
import type { ModuleEnvironment } from "./modules.js";
import type { ValidatorJson } from "./validator.js";

export type UdfType = "Query" | "Mutation" | "Action";
export type Visibility = "public" | "internal";

export interface FunctionInfo {
  /** Canonical path, `messages:list`. */
  path: string;
  udfType: UdfType;
  visibility: Visibility;
  args: ValidatorJson | null;
  returns: ValidatorJson | null;
  environment: ModuleEnvironment;
}

/** The JSON that `start_push` reports per module, as the CLI's zod schema expects it. */
export interface AnalyzedModule {
  functions: { name: string; pos: null; udfType: UdfType; visibility: { kind: Visibility } | null; args: string | null; returns: string | null }[];
  httpRoutes: { route: { path: string; method: string }; pos: null }[] | null;
  cronSpecs: { identifier: string; cronSpec: { udfPath: string; udfArgs: string; cronSchedule: unknown } }[] | null;
  sourceMapped: null;
}

export interface CronJob {
  name: string;
  udfPath: string;
  /** JSON array with one Convex-JSON args object, as `crons.export()` stores it. */
  args: unknown[];
  schedule: CronSchedule;
}

export type CronSchedule =
  | { type: "interval"; seconds: number }
  | { type: "hourly"; minuteUTC: number }
  | { type: "daily"; hourUTC: number; minuteUTC: number }
  | { type: "weekly"; dayOfWeek: number; hourUTC: number; minuteUTC: number }
  | { type: "monthly"; day: number; hourUTC: number; minuteUTC: number }
  | { type: "cron"; cron: string };

export interface SchemaTable {
  tableName: string;
  indexes: { indexDescriptor: string; fields: string[] }[];
  searchIndexes: unknown[];
  vectorIndexes: unknown[];
  /** Indexes defined with `staged: true` (convex-js `stagedDbIndexes`): built and kept, but not queryable. */
  stagedIndexes?: { indexDescriptor: string; fields: string[] }[];
  /** Search indexes defined with `staged: true` (`stagedSearchIndexes`), likewise. */
  stagedSearchIndexes?: unknown[];
  /** Vector indexes defined with `staged: true` (`stagedVectorIndexes`), likewise (vectorIndexPush.ts). */
  stagedVectorIndexes?: unknown[];
  documentType: ValidatorJson | null;
}

export interface AnalyzedSchema {
  tables: SchemaTable[];
  schemaValidation: boolean;
}

/** One `auth.config.ts` provider, normalized to the shape the push response reports. */
export type AuthProvider =
  | { type: "customJwt"; applicationID: string | null; issuer: string; jwks: string; algorithm: string }
  | { applicationID: string; domain: string };

export interface DeploymentAnalysis {
  modules: Record<string, AnalyzedModule>;
  functions: Map<string, FunctionInfo>;
  httpRoutes: { path: string; method: string }[] | null;
  crons: CronJob[];
  schema: AnalyzedSchema | null;
  auth: AuthProvider[];
  /** Each component instance's schema by namespace (components.ts); the app's is `schema`. */
  componentSchemas?: Record<string, AnalyzedSchema | null>;
  /**
   * The HTTP mounts of each namespace with children mounted (`app.use(x, { httpPrefix })`): the
   * mount path (ending in "/") → the name of the child component mounted there (httpRouting.ts).
   */
  httpMounts?: Record<string, Record<string, string>>;
  /** `defineApp({ httpPrefix })`: the app's own `http.js` routes are served under it (httpRouting.ts). */
  httpPrefix?: string;
  /**
   * Each component instance's environment variables by namespace (every instance has an entry): its
   * `env` bindings (`app.use(x, { env })`) resolved up the tree to a value or a deployment
   * variable's name. A component sees these and the system variables only (runner.ts).
   */
  componentEnv?: Record<string, Record<string, EnvBinding>>;
}

/** A component's environment variable as its parent binds it (the CLI's componentEnvBinding). */
export type EnvBinding = { type: "value"; value: string } | { type: "envVar"; name: string };

/** Module paths that hold functions (not shared chunks, not config files). */
export function isFunctionModule(modulePath: string): boolean {
  return !modulePath.startsWith("_deps/") && modulePath !== "schema.js" && modulePath !== "auth.config.js" && !modulePath.startsWith("_generated/");
}
