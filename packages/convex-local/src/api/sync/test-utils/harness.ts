/**
 * Test harness for the sync protocol: a real `FunctionRunner` over a real `Storage` in a temp dir,
 * loaded with the small app in `./convex` (bundled here with esbuild the way the CLI does), and an
 * http server on 127.0.0.1 with only the sync protocol attached.
 */
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AddressInfo, Socket } from "node:net";
import { build } from "esbuild";
import type { JSONValue } from "convex/values";
import { Storage } from "../../../storage/index.js";
import { analyzeModules } from "../../../runtime/analyze.js";
import { compileModule, type CompiledModule } from "../../../runtime/modules.js";
import { FunctionRunner, type Caller, type FunctionLogEntry, type FunctionResult, type QueryRequest, type QueryResult } from "../../../runtime/runner.js";
import type { DocumentWrite } from "../../../transactions/transaction.js";
import { attachSyncProtocol, type SyncDependencies, type SyncOptions, type SyncServer } from "../index.js";
import { adminKeyFromWebPage } from "../../../auth/caller.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../../../../..");

let modulesPromise: Promise<Map<string, CompiledModule>> | undefined;

/** The fixture app, bundled once per test file: ESM entry modules plus shared `_deps` chunks. */
export function fixtureModules(): Promise<Map<string, CompiledModule>> {
  modulesPromise ??= (async () => {
    const dir = path.join(here, "convex");
    const result = await build({
      entryPoints: [path.join(dir, "messages.ts"), path.join(dir, "schema.ts")],
      bundle: true,
      format: "esm",
      platform: "neutral",
      splitting: true,
      write: false,
      outdir: "/out",
      outbase: dir,
      chunkNames: "_deps/[name]-[hash]",
      mainFields: ["module", "main"],
      nodePaths: [path.join(repoRoot, "node_modules")],
      logLevel: "silent",
    });
    const modules = new Map<string, CompiledModule>();
    for (const file of result.outputFiles) {
      const rel = path.relative("/out", file.path).split(path.sep).join("/");
      modules.set(rel, compileModule({ path: rel, source: file.text, environment: "isolate" }));
    }
    return modules;
  })();
  return modulesPromise;
}

export interface Harness {
  url: string;
  port: number;
  dataDir: string;
  storage: Storage;
  runner: FunctionRunner;
  sync: SyncServer;
  server: Server;
  /** Query executions through the runner, by `path json(args)`. */
  executions: Map<string, number>;
  /** Every function run the runner logged (a query run again because a commit made it stale included). */
  functionLogs: FunctionLogEntry[];
  executionsOf(path: string, args?: JSONValue): number;
  /** Stops the server (sync sockets closed with 1001) and closes storage; keeps the data dir. */
  stop(): Promise<void>;
  /** stop() and delete the data dir. */
  cleanup(): Promise<void>;
}

export interface HarnessOptions {
  dataDir?: string;
  port?: number;
  authenticate?: SyncDependencies["authenticate"];
  systemQuery?: SyncDependencies["systemQuery"];
  syncOptions?: SyncOptions;
}

export const ADMIN_KEY = "test-admin-key";

/**
 * Admin key → admin (refused from a web page, by the real rule's refusal); `User` token
 * `user:<subject>` → that identity; anything else fails.
 */
export async function fakeAuthenticate(token: { tokenType: string; value?: string }, origin?: string): Promise<Caller> {
  if (token.tokenType === "None") return { identity: null, admin: false };
  if (token.tokenType === "Admin") {
    if (origin !== undefined) throw adminKeyFromWebPage(origin);
    if (token.value !== ADMIN_KEY) throw new Error("The provided admin key was invalid for this instance");
    return { identity: null, admin: true };
  }
  const subject = subjectOfToken(token.value ?? "");
  if (subject === undefined) throw new Error("Could not verify OIDC token claim. Check that the token signature is valid.");
  return {
    identity: { subject, issuer: "https://issuer.test", tokenIdentifier: `https://issuer.test|${subject}` },
    admin: false,
  };
}

/** A JWT-shaped (unsigned) token whose subject the fake authenticate accepts unless it starts with "bad". */
export function fakeJwt(subject: string, lifetimeSeconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part({ sub: subject, iat: now, exp: now + lifetimeSeconds })}.sig`;
}

function subjectOfToken(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub?: unknown };
    return typeof payload.sub === "string" && !payload.sub.startsWith("bad") ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), "convex-local-sync-"));
  const storage = Storage.open(path.join(dataDir, "db.sqlite"));
  const listeners = new Set<(writes: DocumentWrite[], ts: bigint) => void>();
  const functionLogs: FunctionLogEntry[] = [];
  const runner = new FunctionRunner({
    storage,
    onLog: (entry) => functionLogs.push(entry),
    environment: () => ({}),
    systemEnvironment: {},
    queryTimeoutMs: 5_000,
    onCommit: (writes, ts) => {
      for (const listener of listeners) listener(writes, ts);
    },
  });
  const modules = await fixtureModules();
  const analysis = await analyzeModules(runner, modules);
  await runner.install({ modules, analysis });
  storage.transaction(() => {
    for (const table of analysis.schema?.tables ?? []) {
      storage.setIndexes(
        table.tableName,
        table.indexes.map((index) => ({ name: index.indexDescriptor, fields: index.fields })),
      );
    }
  });

  const executions = new Map<string, number>();
  const count = (fnPath: string, args: JSONValue) => {
    const key = `${fnPath} ${JSON.stringify(args)}`;
    executions.set(key, (executions.get(key) ?? 0) + 1);
  };
  const query = runner.query.bind(runner);
  runner.query = (fnPath, args, caller, journal) => {
    count(fnPath, args);
    return query(fnPath, args, caller, journal);
  };
  const queryMany = runner.queryMany.bind(runner);
  runner.queryMany = (requests) => {
    for (const { path: fnPath, args } of requests) count(fnPath, args);
    return queryMany(requests);
  };

  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const connections = new Set<Socket>();
  server.on("connection", (socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
  });
  const sync = attachSyncProtocol(
    server,
    {
      runner,
      storage,
      authenticate: options.authenticate ?? fakeAuthenticate,
      onCommit: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      systemQuery: options.systemQuery,
    },
    options.syncOptions,
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await sync.close();
    // Includes upgrade requests no handler took (they are no longer the http server's).
    for (const socket of connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    storage.close();
  };
  return {
    functionLogs,
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    storage,
    runner,
    sync,
    server,
    executions,
    executionsOf: (fnPath, args = {}) => executions.get(`${fnPath} ${JSON.stringify(args)}`) ?? 0,
    stop,
    async cleanup() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Serves `npx convex env list/get` queries from a fixed set of variables, for admins only. */
export function envSystemQuery(vars: Record<string, string>): NonNullable<SyncDependencies["systemQuery"]> {
  const answer = (result: FunctionResult): QueryResult => ({ result, reads: [], journal: null, snapshotTs: 0n });
  return ({ path: fnPath, args, caller }: QueryRequest): QueryResult | undefined => {
    if (!fnPath.startsWith("_system/")) return undefined;
    if (!caller.admin) return answer({ status: "error", errorMessage: "Unauthorized: admin key required", logLines: [] });
    if (fnPath === "_system/cli/queryEnvironmentVariables:default") {
      return answer({ status: "success", value: Object.entries(vars).map(([name, value]) => ({ name, value })), logLines: [] });
    }
    if (fnPath === "_system/cli/queryEnvironmentVariables:get") {
      const name = (args as { name?: string }).name ?? "";
      return answer({ status: "success", value: name in vars ? { name, value: vars[name]! } : null, logLines: [] });
    }
    return answer({ status: "error", errorMessage: `Could not find system function ${fnPath}`, logLines: [] });
  };
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
export async function waitFor<T>(read: () => T, predicate: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (predicate(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
