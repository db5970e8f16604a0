/**
 * Executes queries and mutations: one shared synchronous isolate (recreated after a push or when a
 * run left it unusable), each call's arguments validated and described for it (frozen clock,
 * seeded `Math.random`, environment), its syscalls answered by `syncHost`, several calls in one vm
 * run (`runBatch`). The callers own the transactions; the time limit is enforced from outside the
 * process (functionWorker.ts). Each query worker and the mutation worker has one (functionProcess.ts).
 */
import { randomFillSync } from "node:crypto";
import type { JSONValue } from "convex/values";
import type { FileStorage } from "./fileStorage.js";
import { exportedFunction, type FunctionCatalog } from "./functionCatalog.js";
import { reportStrayError } from "./functionResults.js";
import type { FunctionInfo } from "./functions.js";
import { componentPathOf } from "./components.js";
import { Isolate, type BatchCall, type BatchResult, type CallHost, type InvokeRequest } from "./isolate.js";
import { parseFunctionPath, type CompiledModule } from "./modules.js";
import type { DeploymentJwtSigner } from "./jwtSigning.js";
import { syncHost, type SyncCall } from "./syncHost.js";
import { webGlobals } from "./webGlobals.js";

export interface SyncExecutorOptions {
  catalog: FunctionCatalog;
  /** The environment variables a call sees. */
  environment: () => Record<string, string>;
  fileStorage: () => FileStorage;
  /** The deployment's JWT signer (`ctx.auth.signJwt`). */
  jwtSigner: () => DeploymentJwtSigner;
}

/** One call of a batch: its state and request, and the hooks the isolate runs around it. */
export interface SyncBatchCall extends Omit<BatchCall, "host"> {
  call: SyncCall;
}

export class SyncExecutor {
  private isolate: Isolate | undefined;

  constructor(private readonly options: SyncExecutorOptions) {}

  /** Drops the isolate (after a push: the next call loads the new modules). */
  reset(): void {
    this.isolate = undefined;
  }

  /** Validates the arguments and describes the call for the isolate. */
  request(info: FunctionInfo, args: JSONValue, call: SyncCall): InvokeRequest {
    const validatedArgs = this.options.catalog.checkArgs(info, args);
    const { modulePath, exportName } = parseFunctionPath(info.path);
    call.functionPath = info.path;
    return {
      invoke: (load) => {
        call.load = load;
        const fn = exportedFunction(load, modulePath, exportName);
        const argsJson = JSON.stringify([validatedArgs]);
        return info.udfType === "Query" ? fn.invokeQuery(argsJson) : fn.invokeMutation(argsJson);
      },
      now: Date.now(),
      seed: randomSeed(),
      env: this.options.environment(),
    };
  }

  /** Describes a call whose function `invoke` starts itself (a one-off query's), with or without the environment variables. */
  describe(invoke: InvokeRequest["invoke"], { environment }: { environment: boolean }): InvokeRequest {
    return { invoke, now: Date.now(), seed: randomSeed(), env: environment ? this.options.environment() : {} };
  }

  /** Runs `calls` one after another in one vm run (see `Isolate.runSyncBatch`). */
  runBatch(calls: SyncBatchCall[]): BatchResult[] {
    const isolate = this.syncIsolate();
    try {
      return isolate.runSyncBatch(calls.map(({ call, ...hooks }) => ({ ...hooks, host: this.host(call) })));
    } finally {
      if (isolate.poisoned) this.isolate = undefined;
    }
  }

  /**
   * Runs one call in an isolate of its own that has `extraModules` beside the pushed modules (a
   * one-off query's, oneoffQuery.ts; one of theirs replaces a pushed module of the same path), then
   * drops it: nothing of theirs stays loaded, and their code cannot leave state behind for other calls.
   */
  runWithModules(extraModules: readonly CompiledModule[], call: SyncBatchCall): BatchResult {
    const modules = new Map(this.options.catalog.modules);
    for (const module of extraModules) modules.set(module.path, module);
    const { call: syncCall, ...hooks } = call;
    return this.newIsolate(modules).runSyncBatch([{ ...hooks, host: this.host(syncCall) }])[0]!;
  }

  private host(call: SyncCall): CallHost {
    return syncHost(call, this.options.catalog, this.options.fileStorage, (options, namespace) => this.signJwt(options, namespace));
  }

  /** A token from `ctx.auth.signJwt` in the app (`namespace` "") or a component, issued by the deployment's URL. */
  private signJwt(options: unknown, namespace: string): string {
    const cloudUrl = this.options.environment().CONVEX_CLOUD_URL;
    if (cloudUrl === undefined) throw new Error("ctx.auth.signJwt: the deployment's URL (CONVEX_CLOUD_URL) is not known, so no token can name its issuer");
    return this.options.jwtSigner().sign(options, namespace === "" ? cloudUrl : `${cloudUrl}/components/${componentPathOf(namespace)}`);
  }

  private syncIsolate(): Isolate {
    this.isolate ??= this.newIsolate(this.options.catalog.modulesToRun());
    return this.isolate;
  }

  private newIsolate(modules: ReadonlyMap<string, CompiledModule>): Isolate {
    return new Isolate(modules, {
      synchronous: true,
      webGlobals: webGlobals({ actions: false }),
      // Node reports an unhandled rejection only after the run, once the call's result is out:
      // Convex would fail the call, here it can only be reported.
      onStrayError: (error) => reportStrayError("a query or mutation left a promise rejection unhandled (its result stands)", error, modules),
    });
  }
}

/** Seeds are drawn from a pool refilled 256 at a time: one `randomBytes` call per seed cost more than a point read. */
const seedPool = Buffer.alloc(16 * 256);
let seedOffset = seedPool.length;

function randomSeed(): [bigint, bigint] {
  if (seedOffset === seedPool.length) {
    randomFillSync(seedPool);
    seedOffset = 0;
  }
  const seed: [bigint, bigint] = [seedPool.readBigUInt64LE(seedOffset) | 1n, seedPool.readBigUInt64LE(seedOffset + 8)];
  seedOffset += 16;
  return seed;
}
