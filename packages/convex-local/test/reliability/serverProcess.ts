/**
 * `convex-local start` as a child process (the built bin, as users run it), for tests that kill or
 * signal the server.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { ConvexClient } from "convex/browser";
import type { FunctionReference } from "convex/server";
import WebSocket from "ws";
import { repoRoot } from "../harness.js";

const bin = path.join(repoRoot, "packages/convex-local/bin/convex-local.js");

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Resolves with the exit code (null when killed by a signal) once the process is gone. */
  exited: Promise<number | null>;
}

/** Starts the server on random ports over `dataDir`; resolves once it prints `ready`. */
export function startServerProcess(dataDir: string, adminKey: string, [port, sitePort]: [number, number] = [0, 0]): Promise<ServerProcess> {
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
