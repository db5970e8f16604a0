/**
 * `convex-local start` as a child process (the built bin, as users run it), for tests that kill or
 * signal the server.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll } from "vitest";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi, type FunctionReference } from "convex/server";
import WebSocket from "ws";
import { deployFixture, repoRoot, type TestDeployment } from "../harness.js";

const bin = path.join(repoRoot, "packages/convex-local/bin/convex-local.js");

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Resolves with the exit code (null when killed by a signal) once the process is gone. */
  exited: Promise<number | null>;
}

/** Starts the server on random ports over `dataDir`; resolves once it prints `ready`. */
function startServerProcess(dataDir: string, adminKey: string, [port, sitePort]: [number, number] = [0, 0]): Promise<ServerProcess> {
  const args = ["start", "--port", String(port), "--site-port", String(sitePort), "--data", dataDir, "--admin-key", adminKey];
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const match = /ready: deployment (http:\/\/\S+),/.exec(line);
      if (match) resolve({ child, url: match[1], exited });
    });
    void exited.then((code) => reject(new Error(`convex-local exited before it was ready (code ${code})`)));
  });
}

/** The reliability fixture's data directory, served by `convex-local start` processes a test file starts. */
export interface ProcessDeployment {
  readonly dataDir: string;
  /** Starts a server over the data directory (on `ports`, default random ones); resolves once it is ready. */
  start(ports?: [number, number]): Promise<ServerProcess>;
}

/**
 * Deploys the reliability fixture before the calling file's tests and stops its in-process backend,
 * so only the server processes the tests start touch the data; removes it all after the file.
 */
export function deployForServerProcesses(): ProcessDeployment {
  let deployment: TestDeployment | undefined;
  beforeAll(async () => {
    // The fixture's auth.config.ts reads IDP_URL (an unset one fails the push); no token is sent here.
    deployment = await deployFixture("reliability", { IDP_URL: "http://127.0.0.1:9" });
    await deployment.backend.close();
  }, 180_000);
  afterAll(async () => {
    await deployment?.cleanup();
  });
  const deployed = (): TestDeployment => {
    if (deployment === undefined) throw new Error("The reliability fixture is deployed in beforeAll; use it inside a test");
    return deployment;
  };
  return {
    get dataDir() {
      return deployed().dataDir;
    },
    start: (ports) => startServerProcess(deployed().dataDir, deployed().backend.adminKey, ports),
  };
}

/** Sends `signal` and resolves with the exit code once the process is gone. */
export async function stopServerProcess(server: ServerProcess, signal: NodeJS.Signals): Promise<number | null> {
  server.child.kill(signal);
  return await server.exited;
}

export interface WriteStream {
  /** The ids of the writes the server acknowledged, in order of acknowledgement. */
  acknowledged: string[];
  /** Resolves once every writer has stopped. */
  done: Promise<void>;
}

/** `entries:add` mutations into `batch` from `writers` HTTP clients, each until the server stops answering. */
export function streamWrites(url: string, batch: string, writers: number): WriteStream {
  const acknowledged: string[] = [];
  const writer = async (writerIndex: number) => {
    const client = new ConvexHttpClient(url);
    for (let i = 0; ; i++) {
      try {
        acknowledged.push(await client.mutation(anyApi.entries.add, { batch, body: `${writerIndex}-${i}` }));
      } catch {
        return; // the server went away: this write's outcome is unknown, so it is not counted
      }
    }
  };
  return { acknowledged, done: Promise.all(Array.from({ length: writers }, (_, index) => writer(index))).then(() => undefined) };
}

/** Resolves once the stream has `count` acknowledged writes; fails if its writers stop before that. */
export async function untilAcknowledged(stream: WriteStream, count: number): Promise<void> {
  let stopped = false;
  void stream.done.then(() => (stopped = true));
  while (stream.acknowledged.length < count) {
    if (stopped) throw new Error(`The writers stopped after ${stream.acknowledged.length} acknowledged writes, before ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves once nothing accepts connections at `url` any more (the server began shutting down). */
export async function untilRefused(url: string): Promise<void> {
  for (;;) {
    try {
      await fetch(`${url}/version`, { signal: AbortSignal.timeout(1000) });
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Two ports free right now on 127.0.0.1, so a restarted server comes back where clients expect it. */
export async function freePorts(): Promise<[number, number]> {
  const servers = [createServer(), createServer()];
  const ports = await Promise.all(
    servers.map((server) => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)))),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return [ports[0], ports[1]];
}

/** A ConvexClient speaking the sync protocol through `ws` (Node 20 has no global WebSocket). */
export function syncClient(url: string): ConvexClient {
  return new ConvexClient(url, { webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket, unsavedChangesWarning: false });
}

/** Resolves with the first value of a subscription that satisfies `accept`. */
export function valueOf<T>(client: ConvexClient, query: FunctionReference<"query">, args: Record<string, unknown>, accept: (value: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const unsubscribe = client.onUpdate(query, args, (value: T) => {
      if (!accept(value)) return;
      unsubscribe();
      resolve(value);
    });
  });
}
