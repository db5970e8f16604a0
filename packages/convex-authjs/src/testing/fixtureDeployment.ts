/**
 * The fixture Convex app (`fixtures/convex`) deployed to an embedded `convex-local` with the
 * official CLI, as a standalone app would deploy it: the adapter's tests talk to it over HTTP.
 *
 * @example
 * ```ts
 * let deployment: FixtureDeployment;
 * beforeAll(async () => { deployment = await startFixtureDeployment(); }, 180_000);
 * afterAll(() => deployment?.close());
 * ```
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startBackend, type Backend } from "convex-local";
import { Env } from "../shared/protocol.js";
import { TEST_SECRET } from "./convexTestApp.js";

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const repoRoot = path.resolve(packageRoot, "../..");

export interface FixtureDeployment {
  backend: Backend;
  /** The deployed app's directory (its `convex/`, and `node_modules` linked to the workspace's). */
  appDir: string;
  /** The environment under which the official CLI (and `convex-authjs keys --set`) reaches this deployment. */
  cliEnv: NodeJS.ProcessEnv;
  /** Calls a query with the admin key over the HTTP API (internal ones too); resolves with its value. */
  adminQuery<T>(functionPath: string, args: Record<string, unknown>): Promise<T>;
  /** Sets (or with `null` removes) a deployment environment variable. */
  setEnv(name: string, value: string | null): Promise<void>;
  close(): Promise<void>;
}

export interface FixtureDeploymentOptions {
  /** How long convex-local caches a JWKS (its refetch cooldown for an unknown `kid` is at most this). */
  jwksCacheMs?: number;
}

/** Deploys the fixture app with `CONVEX_AUTH_ADAPTER_SECRET` set to `TEST_SECRET`. */
export async function startFixtureDeployment(options: FixtureDeploymentOptions = {}): Promise<FixtureDeployment> {
  const root = mkdtempSync(path.join(tmpdir(), "convex-authjs-local-"));
  const appDir = path.join(root, "app");
  cpSync(path.join(packageRoot, "fixtures/convex"), path.join(appDir, "convex"), {
    recursive: true,
    filter: (source) => !source.includes("_generated"),
  });
  // The fixture imports the package by relative path; a standalone app imports it by name.
  for (const file of readdirSync(path.join(appDir, "convex"))) {
    const target = path.join(appDir, "convex", file);
    writeFileSync(target, readFileSync(target, "utf8").replaceAll("../../src/convex/index.js", "convex-authjs/convex"));
  }
  writeFileSync(
    path.join(appDir, "package.json"),
    JSON.stringify({ name: "fixture", private: true, type: "module", dependencies: { convex: "1.48.0" } }),
  );
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(appDir, "node_modules"), "dir");
  const backend = await startBackend({ dataDir: path.join(root, "data"), port: 0, sitePort: 0, jwksCacheMs: options.jwksCacheMs });
  const env: NodeJS.ProcessEnv = { ...process.env, CONVEX_SELF_HOSTED_URL: backend.url, CONVEX_SELF_HOSTED_ADMIN_KEY: backend.adminKey };
  delete env.CONVEX_DEPLOYMENT;
  try {
    const cli = path.join(repoRoot, "node_modules/convex/bin/main.js");
    const run = promisify(execFile);
    await run(process.execPath, [cli, "env", "set", Env.adapterSecret, TEST_SECRET], { cwd: appDir, env });
    await run(process.execPath, [cli, "deploy", "--yes", "--typecheck", "disable"], { cwd: appDir, env });
  } catch (error) {
    await backend.close();
    rmSync(root, { recursive: true, force: true });
    throw error;
  }

  const admin = { "Content-Type": "application/json", Authorization: `Convex ${backend.adminKey}` };
  return {
    backend,
    appDir,
    cliEnv: env,
    async adminQuery<T>(functionPath: string, args: Record<string, unknown>): Promise<T> {
      const response = await fetch(`${backend.url}/api/query`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify({ path: functionPath, args, format: "json" }),
      });
      const body = (await response.json()) as { status: string; value: T; errorMessage?: string };
      if (body.status !== "success") throw new Error(body.errorMessage);
      return body.value;
    },
    async setEnv(name, value) {
      const response = await fetch(`${backend.url}/api/update_environment_variables`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify({ changes: [{ name, value }] }),
      });
      if (!response.ok) throw new Error(`could not set ${name}: ${response.status} ${await response.text()}`);
    },
    async close() {
      await backend.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
