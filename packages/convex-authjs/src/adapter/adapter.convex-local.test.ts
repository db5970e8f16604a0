/**
 * The adapter conformance suite against a real backend: the fixture Convex app is pushed to an
 * embedded `convex-local` with the official CLI, and the adapter talks to it over HTTP.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";
import { startBackend, type Backend } from "convex-local";
import { ConvexAdapter } from "./index.js";
import { runAdapterConformance } from "../testing/adapterConformance.js";
import { TEST_SECRET } from "../testing/convexTestApp.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const packageRoot = path.resolve(here, "../..");
const repoRoot = path.resolve(packageRoot, "../..");
let backend: Backend;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), "convex-authjs-local-"));
  const appDir = path.join(root, "app");
  cpSync(path.join(packageRoot, "fixtures/convex"), path.join(appDir, "convex"), { recursive: true, filter: (source) => !source.includes("_generated") });
  // The fixture imports the package by relative path; a standalone app imports it by name.
  for (const file of readdirSync(path.join(appDir, "convex"))) {
    const target = path.join(appDir, "convex", file);
    writeFileSync(target, readFileSync(target, "utf8").replaceAll("../../src/convex/index.js", "convex-authjs/convex"));
  }
  writeFileSync(path.join(appDir, "package.json"), JSON.stringify({ name: "fixture", private: true, type: "module", dependencies: { convex: "1.48.0" } }));
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(appDir, "node_modules"), "dir");
  backend = await startBackend({ dataDir: path.join(root, "data"), port: 0, sitePort: 0 });
  const env = { ...process.env, CONVEX_SELF_HOSTED_URL: backend.url, CONVEX_SELF_HOSTED_ADMIN_KEY: backend.adminKey };
  delete env.CONVEX_DEPLOYMENT;
  const cli = path.join(repoRoot, "node_modules/convex/bin/main.js");
  const run = promisify(execFile);
  await run(process.execPath, [cli, "env", "set", "CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET], { cwd: appDir, env });
  await run(process.execPath, [cli, "deploy", "--yes", "--typecheck", "disable"], { cwd: appDir, env });
}, 180_000);

afterAll(async () => {
  await backend?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

runAdapterConformance("convex-local", () => ({
  adapter: ConvexAdapter({ url: backend.url, secret: TEST_SECRET }),
  async readTable(name) {
    const response = await fetch(`${backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Convex ${backend.adminKey}` },
      body: JSON.stringify({ path: "inspect:table", args: { name }, format: "json" }),
    });
    const body = (await response.json()) as { status: string; value: Record<string, unknown>[]; errorMessage?: string };
    if (body.status !== "success") throw new Error(body.errorMessage);
    return body.value;
  },
}));
