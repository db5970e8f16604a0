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
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startBackend, type Backend } from "convex-local";
import { ConvexAdapter } from "./index.js";
import { ADAPTER_MUTATIONS, ADAPTER_QUERIES, Env, ErrorCode } from "../shared/protocol.js";
import { VALID_ADAPTER_ARGS } from "../testing/adapterArgs.js";
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
  const env: NodeJS.ProcessEnv = { ...process.env, CONVEX_SELF_HOSTED_URL: backend.url, CONVEX_SELF_HOSTED_ADMIN_KEY: backend.adminKey };
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

/** Calls an adapter function over the HTTP API as the adapter does (no admin key). */
async function callAdapterFunction(name: string, args: Record<string, unknown>): Promise<{ status: string; errorMessage?: string; errorData?: { code?: string } }> {
  const kind = (ADAPTER_QUERIES as readonly string[]).includes(name) ? "query" : "mutation";
  const response = await fetch(`${backend.url}/api/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: `authAdapter:${name}`, args, format: "json" }),
  });
  return (await response.json()) as { status: string; errorMessage?: string; errorData?: { code?: string } };
}

async function setDeploymentSecret(value: string | null): Promise<void> {
  const response = await fetch(`${backend.url}/api/update_environment_variables`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Convex ${backend.adminKey}` },
    body: JSON.stringify({ changes: [{ name: Env.adapterSecret, value }] }),
  });
  if (!response.ok) throw new Error(`could not set ${Env.adapterSecret}: ${response.status} ${await response.text()}`);
}

const STORED_TABLES = ["users", "accounts", "sessions", "verificationTokens", "authenticators"];

async function tableSizes(): Promise<number[]> {
  return await Promise.all(
    STORED_TABLES.map(async (name) => {
      const response = await fetch(`${backend.url}/api/query`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Convex ${backend.adminKey}` },
        body: JSON.stringify({ path: "inspect:table", args: { name }, format: "json" }),
      });
      return ((await response.json()) as { value: unknown[] }).value.length;
    }),
  );
}

describe.each([...ADAPTER_QUERIES, ...ADAPTER_MUTATIONS])("adapter secret of %s on convex-local", (name) => {
  const args = VALID_ADAPTER_ARGS[name];

  test("refuses a missing, wrong, empty or near-miss secret and writes nothing", async () => {
    const before = await tableSizes();
    const missing = await callAdapterFunction(name, args);
    expect(missing.status).toBe("error");
    expect(missing.errorMessage).toMatch(/secret/);
    for (const secret of ["wrong-secret", "", TEST_SECRET.slice(0, -1), `${TEST_SECRET}x`]) {
      const refused = await callAdapterFunction(name, { ...args, secret });
      expect(refused).toMatchObject({ status: "error", errorData: { code: ErrorCode.secretMismatch } });
      expect(refused.errorMessage).not.toContain(TEST_SECRET);
    }
    expect(await tableSizes()).toEqual(before);
  });

  test("refuses every secret while the deployment's secret is unset", async () => {
    await setDeploymentSecret(null);
    try {
      for (const secret of [TEST_SECRET, "", "anything"]) {
        expect(await callAdapterFunction(name, { ...args, secret })).toMatchObject({ status: "error", errorData: { code: ErrorCode.secretNotConfigured } });
      }
    } finally {
      await setDeploymentSecret(TEST_SECRET);
    }
  });
});
