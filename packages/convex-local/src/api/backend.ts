/**
 * The running backend: storage, function runner and deployment state behind two HTTP servers —
 * the deployment API (functions, push, sync WebSocket) and the site port (HTTP actions) — both on
 * 127.0.0.1 by default.
 *
 * @example
 * const backend = await startBackend({ dataDir: ".convex-local", port: 3210, sitePort: 3211 });
 * console.log(backend.url); // backend.adminKey authorizes the CLI: never log it
 * await backend.close();
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { AuthError } from "../auth/authError.js";
import { CallerResolver } from "../auth/caller.js";
import { Storage, ownerOnlyDirectory, ownerOnlyFile } from "../storage/index.js";
import { BlobStore } from "../storage/blobs.js";
import { truncateText } from "../text/valueText.js";
import { FileStorage } from "../runtime/fileStorage.js";
import type { DocumentWrite } from "../transactions/transaction.js";
import { DeploymentState } from "../runtime/deployment.js";
import { DeploymentJwtSigner } from "../runtime/jwtSigning.js";
import { FunctionRunner, type Caller } from "../runtime/runner.js";
import {
  canonicalUrls,
  checkAdminKey,
  configHashes,
  finishPush,
  reportPushCompleted,
  startPush,
  streamFunctionLogs,
  updateEnvironmentVariables,
  waitForSchema,
  type DeployContext,
} from "./deployRoutes.js";
import { serveFile, uploadFile } from "./storageRoutes.js";
import { FunctionLog } from "./functionLogs.js";
import { callFunction, queryAtTimestamp, queryBatch, queryFromUrl, queryTimestamp, runFunctionAtPath } from "./functionRoutes.js";
import { runOneoffQuery } from "./oneoffQueries.js";
import { serveHttpAction } from "./httpActions.js";
import { requestOriginOf } from "./requestOrigin.js";
import { RequestError, sendJson, sendRequestError, sendText } from "./http.js";
import { notFound, routeRequest, type Route } from "./router.js";
import { Scheduler } from "../scheduler/scheduler.js";
import { holdRequests } from "./heldRequests.js";
import { SYNC_PATH, attachSyncProtocol } from "./sync/index.js";
import { systemQuery, type SystemQueryContext } from "./systemFunctions/index.js";
import { TableShapes } from "./tableShapes/index.js";
import { SNAPSHOTS_DIRECTORY, SnapshotRoutes } from "./snapshot/index.js";
import { withSystemQueries } from "./systemFunctions/overHttp.js";
import { closeVectorSearch } from "../runtime/vectorSearchThreads.js";
import { printable, printableError } from "../text/terminalText.js";

export const SERVER_VERSION = "convex-local-0.1.0";

export interface BackendOptions {
  /** Directory holding the database and the generated admin key. */
  dataDir: string;
  port?: number;
  sitePort?: number;
  host?: string;
  /** Admin key to accept; generated and stored under dataDir when absent. */
  adminKey?: string;
  /** Directory from which `"use node"` actions resolve packages (the app's root). */
  appDirectory?: string;
  queryTimeoutMs?: number;
  /** Time limit of default-runtime actions and HTTP actions (default 30 minutes, as on Convex). */
  actionTimeoutMs?: number;
  /** Time limit of `"use node"` actions (default 10 minutes, as on Convex). */
  nodeActionTimeoutMs?: number;
  /** Threads that run queries (default: one per core, at most 8; more start while queries wait behind busy ones). */
  queryWorkers?: number;
  /** How long a fetched JWKS / OIDC discovery document is trusted (default 10 minutes). */
  jwksCacheMs?: number;
  /** Largest file uploads and `ctx.storage.store` accept (default 256 MiB). */
  maxFileBytes?: number;
}

export interface Backend {
  url: string;
  siteUrl: string;
  adminKey: string;
  storage: Storage;
  runner: FunctionRunner;
  deployment: DeploymentState;
  log: FunctionLog;
  scheduler: Scheduler;
  close(): Promise<void>;
}

export class AdminKeyError extends Error {}

/** What a data directory holds: the database with its WAL files, the admin key, uploaded files, snapshot ZIPs. */
const DATABASE_FILE = "convex.sqlite3";
const ADMIN_KEY_FILE = "admin_key";
const DATA_DIRECTORY_ENTRIES = [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`, ADMIN_KEY_FILE, "files", SNAPSHOTS_DIRECTORY];

/** Where the admin key generated for dataDir is stored. */
export function adminKeyFile(dataDir: string): string {
  return path.join(dataDir, ADMIN_KEY_FILE);
}

/** The data directory, owner-only unless it also holds things that are not the deployment's (then says so). */
function ownerOnlyDataDirectory(dataDir: string): void {
  if (!ownerOnlyDirectory(dataDir, DATA_DIRECTORY_ENTRIES)) {
    console.error(`convex-local: ${printable(dataDir)} also holds files that are not the deployment's, so its permissions were left as they are; give the data directory a folder of its own`);
  }
}

/** The admin key stored under dataDir by an earlier start, if any. */
export function readAdminKey(dataDir: string): string | undefined {
  const file = adminKeyFile(dataDir);
  return (existsSync(file) && readFileSync(file, "utf8").trim()) || undefined;
}

/**
 * Reads the admin key stored under dataDir, creating one on first start. The directory and the file
 * are made owner-only first, so the key is never readable by others, not even for a moment.
 */
export function loadOrCreateAdminKey(dataDir: string): string {
  ownerOnlyDataDirectory(dataDir);
  return storedAdminKey(dataDir);
}

/** The key in an owner-only data directory's `admin_key`, generated there when it holds none. */
function storedAdminKey(dataDir: string): string {
  const file = adminKeyFile(dataDir);
  ownerOnlyFile(file);
  const existing = readFileSync(file, "utf8").trim();
  if (existing !== "") return existing;
  const key = `convex-local|${randomBytes(32).toString("hex")}`;
  writeFileSync(file, `${key}\n`);
  return key;
}

export async function startBackend(options: BackendOptions): Promise<Backend> {
  // It holds the admin key, the environment variables and the files: owner-only, however it is started.
  ownerOnlyDataDirectory(options.dataDir);
  const host = options.host ?? "127.0.0.1";
  const adminKey = options.adminKey ?? storedAdminKey(options.dataDir);
  if (adminKey.length < 16) throw new AdminKeyError("The admin key must be at least 16 characters long.");
  const storage = Storage.open(path.join(options.dataDir, DATABASE_FILE));
  DeploymentJwtSigner.prepare(storage);
  const apiServer = createServer();
  const siteServer = createServer();
  await listen(apiServer, options.port ?? 3210, host);
  await listen(siteServer, options.sitePort ?? 3211, host);
  const releaseRequests = holdRequests([apiServer, siteServer]);
  const url = `http://${host}:${(apiServer.address() as AddressInfo).port}`;
  const siteUrl = `http://${host}:${(siteServer.address() as AddressInfo).port}`;

  const log = new FunctionLog();
  const systemEnvironment = { CONVEX_CLOUD_URL: url, CONVEX_SITE_URL: siteUrl };
  const commitListeners = new Set<(writes: DocumentWrite[], ts: bigint) => void>();
  let deployment: DeploymentState;
  let scheduler: Scheduler | undefined;
  const runner = new FunctionRunner({
    storage,
    environment: () => deployment.environment(),
    systemEnvironment,
    appDirectory: options.appDirectory,
    queryTimeoutMs: options.queryTimeoutMs,
    actionTimeoutMs: options.actionTimeoutMs,
    nodeActionTimeoutMs: options.nodeActionTimeoutMs,
    queryWorkers: options.queryWorkers,
    fileStorage: FileStorage.open(storage, new BlobStore(path.join(options.dataDir, "files")), url, options.maxFileBytes),
    onLog: (entry) => log.record(entry),
    onCommit: (writes, ts) => {
      for (const listener of commitListeners) listener(writes, ts);
      scheduler?.onCommit(writes);
    },
    onInstall: () => scheduler?.onInstall(),
  });
  deployment = new DeploymentState(storage, runner);
  try {
    await deployment.restore();
  } catch (error) {
    // A push that no longer loads (e.g. a Node upgrade) must not keep the backend from starting.
    console.error(`convex-local: could not load the last pushed functions: ${printableError(error)}`);
  }
  scheduler = new Scheduler(storage, runner);
  await scheduler.start();

  const callers = new CallerResolver({ adminKey, providers: () => deployment.authInfo(), jwksCacheMs: options.jwksCacheMs });

  // Subscriptions read code and environment too: re-run them all when either changes.
  const context: DeployContext = { deployment, log, cloudUrl: url, siteUrl, serverVersion: SERVER_VERSION, changed: () => sync.invalidateAll() };
  const snapshots = new SnapshotRoutes({ storage, runner, dataDir: options.dataDir, deploymentName: "convex-local" });
  // `npx convex import` asks a system query over HTTP (`ConvexHttpClient`), as Convex answers it.
  const httpRunner = withSystemQueries(runner, (request) => systemQuery(systemQueries, request));
  const routes = [...snapshots.routes(), ...deploymentApiRoutes(httpRunner, context, new TableShapes(storage), callers, DeploymentJwtSigner.open(storage).jwks())];
  const inFlight = new InFlightRequests();
  apiServer.on("request", (request: IncomingMessage, response: ServerResponse) => {
    inFlight.track(response);
    void (async () => {
      try {
        await routeRequest(routes, request, response, (request) => callerOf(request, callers));
      } catch (error) {
        if (response.headersSent) return response.destroy();
        if (error instanceof RequestError) return sendRequestError(response, error);
        sendRequestError(response, new RequestError(400, "BadRequest", truncateText((error as Error).message)));
      }
    })().catch((error: unknown) => internalError(response, error));
  });

  siteServer.on("request", (request: IncomingMessage, response: ServerResponse) => {
    inFlight.track(response);
    void (async () => {
      const caller = await callers.forHttpAction(request.headers.authorization, request.headers.origin);
      await serveHttpAction(runner, siteUrl, request, response, { ...caller, request: requestOriginOf(request) });
    })().catch((error: unknown) => internalError(response, error));
  });

  const systemQueries: SystemQueryContext = {
    storage,
    deployment,
    analysis: () => runner.analysis,
    systemEnvironment,
  };
  const sync = attachSyncProtocol(apiServer, {
    runner,
    storage,
    authenticate: (token, origin) => callers.fromSyncToken(token, origin),
    onCommit: (listener) => {
      commitListeners.add(listener);
      return () => commitListeners.delete(listener);
    },
    systemQuery: (request) => systemQuery(systemQueries, request),
  });
  // The sync protocol claims upgrades on its own path; any other is answered here, or it would hang open.
  apiServer.on("upgrade", (request: IncomingMessage, socket: Duplex) => {
    if (!isSyncUpgrade(request)) refuseUpgrade(socket);
  });
  siteServer.on("upgrade", (_request: IncomingMessage, socket: Duplex) => refuseUpgrade(socket));
  releaseRequests();

  return {
    url,
    siteUrl,
    adminKey,
    storage,
    runner,
    deployment,
    log,
    scheduler,
    /**
     * Graceful shutdown: stop accepting connections and starting scheduled jobs, close sync sockets
     * with 1001 (clients reconnect elsewhere or later), let every request already received finish
     * and its response reach the socket, then close the database.
     */
    async close() {
      scheduler!.close();
      await snapshots.idle();
      log.close();
      const stopped = Promise.all([closeServer(apiServer), closeServer(siteServer)]);
      await sync.close();
      await inFlight.drained(SHUTDOWN_DRAIN_MS);
      apiServer.closeAllConnections();
      siteServer.closeAllConnections();
      await stopped;
      await runner.close();
      await closeVectorSearch(storage);
      storage.close();
    },
  };
}

/**
 * The deployment API, one row per route (see `routeRequest` in router.ts for how a request is
 * matched). Admin rows are the admin routes: they need the admin key and send no CORS headers.
 */
function deploymentApiRoutes(runner: FunctionRunner, context: DeployContext, shapes: TableShapes, callers: CallerResolver, jwks: object): Route[] {
  const plainText = (body: string): Route["handler"] => ({ response }) => sendText(response, 200, body);
  return [
    { method: "*", path: "/version", access: "anyone", handler: plainText(SERVER_VERSION) },
    // The public key of the tokens `ctx.auth.signJwt` signs (runtime/jwtSigning.ts).
    { method: "GET", path: "/.well-known/jwks.json", access: "anyone", handler: ({ response }) => sendJson(response, 200, jwks) },
    { method: "*", path: "/instance_version", access: "anyone", handler: plainText(SERVER_VERSION) },
    { method: "*", path: "/instance_name", access: "anyone", handler: plainText("convex-local") },
    { method: "*", path: "/", access: "anyone", handler: plainText("This Convex deployment is running. See https://docs.convex.dev/.") },
    // File URLs authorize themselves: an upload URL by its token, a file URL by its unguessable key.
    { method: "POST", path: "/api/storage/upload", access: "anyone", handler: (route) => uploadFile(route, runner) },
    { method: ["GET", "HEAD"], path: "/api/storage/*", access: "anyone", handler: (route) => serveFile(route, runner) },

    { method: "POST", path: "/api/query_ts", access: "caller", handler: (route) => queryTimestamp(route, runner) },
    { method: "GET", path: "/api/query", access: "caller", handler: (route) => queryFromUrl(route, runner) },
    { method: "POST", path: "/api/query", access: "caller", handler: (route) => callFunction(route, runner, "query") },
    { method: "POST", path: "/api/query_at_ts", access: "caller", handler: (route) => queryAtTimestamp(route, runner) },
    { method: "POST", path: "/api/mutation", access: "caller", handler: (route) => callFunction(route, runner, "mutation") },
    { method: "POST", path: "/api/action", access: "caller", handler: (route) => callFunction(route, runner, "action") },
    // Runs any function by path with the admin key only (its handler checks), yet not an admin route: it answers CORS.
    { method: "POST", path: "/api/function", access: "caller", handler: (route) => callFunction(route, runner, "any") },
    { method: "POST", path: "/api/query_batch", access: "caller", handler: (route) => queryBatch(route, runner) },
    { method: "POST", path: "/api/run/*", access: "caller", handler: (route) => runFunctionAtPath(route, runner) },

    { method: "*", path: "/api/v1/get_canonical_urls", access: "admin", handler: (route) => canonicalUrls(route, context) },
    { method: "*", path: "/api/check_admin_key", access: "admin", handler: checkAdminKey },
    { method: "*", path: "/api/stream_function_logs", access: "admin", handler: (route) => streamFunctionLogs(route, context) },
    { method: "POST", path: "/api/get_config_hashes", access: "admin", handler: (route) => configHashes(route, context) },
    { method: "POST", path: "/api/update_environment_variables", access: "admin", handler: (route) => updateEnvironmentVariables(route, context) },
    { method: "GET", path: "/api/shapes2", access: "admin", handler: (route) => shapes.serve(route) },
    // One-off queries (`npx convex run --inline-query`, the MCP server's runOneoffQuery): the body's admin key is checked too, as on Convex.
    { method: "POST", path: "/api/run_test_function", access: "admin", handler: (route) => runOneoffQuery(route, runner, callers) },
    { method: "POST", path: "/api/deploy2/evaluate_push", access: "admin", handler: (route) => startPush(route, context) },
    { method: "POST", path: "/api/deploy2/start_push", access: "admin", handler: (route) => startPush(route, context) },
    { method: "POST", path: "/api/deploy2/wait_for_schema", access: "admin", handler: (route) => waitForSchema(route, context) },
    { method: "POST", path: "/api/deploy2/finish_push", access: "admin", handler: (route) => finishPush(route, context) },
    { method: "POST", path: "/api/deploy2/report_push_completed", access: "admin", handler: reportPushCompleted },
    // Every other path of the push API is an admin path too: 403 without the key, 404 with it.
    { method: "*", path: "/api/deploy2/*", access: "admin", handler: notFound },
  ];
}

/**
 * The caller of a deployment API request; a refused `Authorization` header is a request error with
 * Convex's status, and so is an admin key on a request with an `Origin` header (from a web page).
 */
async function callerOf(request: IncomingMessage, callers: CallerResolver): Promise<Caller> {
  try {
    return await callers.fromAuthorizationHeader(request.headers.authorization, request.headers.origin);
  } catch (error) {
    if (error instanceof AuthError) throw new RequestError(error.status, error.code, error.message);
    throw error;
  }
}

/**
 * The last resort of a request whose handling failed outside the handlers' own error answers (a bug
 * here, or a value no handler expected): printed, answered 500 when nothing was sent yet, else cut
 * off. Without it the rejection would be one no function owns (runtime/crashAttribution.ts), which
 * ends an embedding program, and the client would wait for ever.
 */
function internalError(response: ServerResponse, error: unknown): void {
  console.error(`convex-local: a request failed: ${printableError(error)}`);
  try {
    if (response.headersSent) return void response.destroy();
    sendText(response, 500, "Internal server error");
  } catch {
    response.destroy();
  }
}

/** Whether an upgrade request is for the sync protocol's path (`attachSyncProtocol` claims those). */
function isSyncUpgrade(request: IncomingMessage): boolean {
  try {
    return SYNC_PATH.test(new URL(request.url ?? "/", "http://localhost").pathname);
  } catch {
    return false;
  }
}

/** Answers an upgrade no handler claims with a 404 and closes the connection. */
function refuseUpgrade(socket: Duplex): void {
  if (socket.destroyed) return;
  // Node's own error listener is gone once a socket is handed to 'upgrade' listeners.
  socket.on("error", () => socket.destroy());
  socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", () => socket.destroy());
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** How long shutdown waits for requests already received (a long action) before cutting them off. */
const SHUTDOWN_DRAIN_MS = 10_000;

/** Responses not yet handed to the socket, so shutdown can wait for them. */
class InFlightRequests {
  private readonly open = new Set<ServerResponse>();
  private idle: (() => void) | undefined;

  track(response: ServerResponse): void {
    this.open.add(response);
    const done = () => {
      this.open.delete(response);
      if (this.open.size === 0) this.idle?.();
    };
    response.once("finish", done);
    response.once("close", done);
  }

  drained(timeoutMs: number): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Stops accepting connections and closes idle keep-alive ones; resolves once every connection is gone. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
