/**
 * What a new user does, from the packages' tarballs and the README alone: `npm pack` both packages,
 * install the tarballs (and the README's other dependencies) into a fresh app in a temp directory
 * outside the workspace, with its own node_modules; create every file of the README's quickstart
 * from its code blocks; run `convex-local dev` and the README's secrets commands as written; `next
 * build` (type checking on) and `next start`; then sign in through Auth.js's HTTP endpoints with the
 * development mailbox, and check the verification token, user and session in Convex (read with the
 * official `convex data`) and an authenticated `fetchQuery` in the rendered page.
 *
 * Every step has a time limit; the whole test is bounded by the project's timeout.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readQuickstart } from "./quickstart.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const README = path.join(repoRoot, "packages/convex-authjs/README.md");
const PACKAGES = ["convex-authjs", "convex-local"] as const;
const MINUTE = 60_000;
const run = promisify(execFile);

let root: string;
let appDir: string;
const tarballs = new Map<string, string>();
const children: ChildProcess[] = [];
let appUrl: string;

// npm settings a user's shell would carry too; the others (npm_config_local_prefix, npm_package_*,
// npm_lifecycle_*) name this checkout, and would make npm in the app act on the workspace instead.
const KEPT_NPM_SETTINGS = new Set(["npm_config_nodedir", "npm_config_cache", "npm_config_registry", "npm_config_userconfig"]);

/**
 * The environment of the app's commands: this machine's (PATH first: under `npm run test:node24`,
 * Node 24 and its headers via npm_config_nodedir), without the test runner's and npm run's settings.
 */
function appEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_/.test(name) && !KEPT_NPM_SETTINGS.has(name)) continue;
    if (/^(VITEST|NODE_ENV$|NODE_OPTIONS$|TEST$|INIT_CWD$|CONVEX_|NEXT_|AUTH_)/.test(name)) continue;
    env[name] = value;
  }
  return { ...env, NEXT_TELEMETRY_DISABLED: "1", ...extra };
}

async function sh(command: string, args: string[], options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<string> {
  try {
    const { stdout } = await run(command, args, { cwd: options.cwd, env: options.env ?? appEnv(), timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: "SIGKILL" });
    return stdout;
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed in ${options.cwd}: ${(error as Error).message}\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`);
  }
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts a long-running command in its own process group, its output kept for failure messages. */
function start(command: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { cwd: appDir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  children.push(child);
  return { child, output: () => output };
}

/** Ends `until` at once: the awaited thing can no longer happen (e.g. the server exited). */
class GaveUp extends Error {}

async function until<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>, context = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GaveUp) throw new Error(`${error.message} while waiting for ${what}\n${context().slice(-4000)}`);
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}\n${context().slice(-4000)}`);
}

/** A table's documents as the official CLI prints them (`convex data <table> --format jsonl`), reading .env.local. */
async function convexData(table: string): Promise<Record<string, unknown>[]> {
  const out = await sh("npx", ["convex", "data", table, "--format", "jsonl", "--limit", "100"], { cwd: appDir, timeoutMs: 2 * MINUTE });
  return out.split("\n").filter((line) => line.trim().startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), "convex-authjs-adopter-"));
  appDir = path.join(root, "my-app");
  mkdirSync(appDir);
  for (const name of PACKAGES) {
    const out = await sh("npm", ["pack", "--pack-destination", root, "--json"], { cwd: path.join(repoRoot, "packages", name), timeoutMs: 2 * MINUTE });
    const [{ filename }] = JSON.parse(out) as { filename: string }[];
    tarballs.set(name, path.join(root, filename));
  }
}, 5 * MINUTE);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  }
  await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once("exit", resolve)) : undefined)));
  if (root) rmSync(root, { recursive: true, force: true });
}, MINUTE);

describe("the packed packages", () => {
  test.each(PACKAGES)("%s: LICENSE, engines, and source maps that resolve inside the tarball", async (name) => {
    const dir = path.join(root, `unpacked-${name}`);
    mkdirSync(dir);
    await sh("tar", ["xzf", tarballs.get(name)!, "-C", dir], { cwd: root, timeoutMs: MINUTE });
    const pkg = path.join(dir, "package");
    expect(readFileSync(path.join(pkg, "LICENSE"), "utf8")).toContain("Apache License");
    expect(JSON.parse(readFileSync(path.join(pkg, "package.json"), "utf8")).engines).toEqual({ node: ">=20" });
    const maps = (readdirSync(pkg, { recursive: true }) as string[]).filter((file) => file.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(0);
    const unresolved: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot = "" } = JSON.parse(readFileSync(path.join(pkg, map), "utf8")) as { sources: string[]; sourceRoot?: string };
      for (const source of sources) {
        if (!existsSync(path.resolve(pkg, path.dirname(map), sourceRoot, source))) unresolved.push(`${map} → ${source}`);
      }
    }
    // A dist/ file whose source is gone is a stale build output: rebuild from a clean dist/ before packing.
    expect(unresolved).toEqual([]);
  });
});

describe("a new app from the README's quickstart", () => {
  const email = "new-user@example.com";
  const cookies = new Map<string, string>();

  async function get(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (cookies.size > 0) headers.set("cookie", [...cookies].map(([name, value]) => `${name}=${value}`).join("; "));
    const response = await fetch(new URL(url, appUrl), { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return response;
  }

  beforeAll(async () => {
    const quickstart = readQuickstart(README);
    for (const args of quickstart.npmCommands) {
      // The two packages from their tarballs; everything else as the README says.
      const resolved = args.map((arg) => {
        const name = PACKAGES.find((pkg) => arg === pkg || arg.startsWith(`${pkg}@`));
        return name ? tarballs.get(name)! : arg;
      });
      const options = resolved[0] === "install" ? ["--no-audit", "--no-fund", "--prefer-offline"] : [];
      await sh("npm", [...resolved, ...options], { cwd: appDir, timeoutMs: 10 * MINUTE });
    }
    for (const [file, content] of quickstart.files) {
      mkdirSync(path.dirname(path.join(appDir, file)), { recursive: true });
      writeFileSync(path.join(appDir, file), content);
    }

    const port = await freePort();
    const sitePort = await freePort();
    const dev = start("npx", ["convex-local", "dev", "--port", String(port), "--site-port", String(sitePort)], appEnv());
    // Pushed and generated: the app's own query answers.
    await until("convex-local dev to push the app", 5 * MINUTE, async () => {
      if (dev.child.exitCode !== null) throw new GaveUp(`convex-local dev exited with ${dev.child.exitCode}`);
      if (!existsSync(path.join(appDir, "convex/_generated/api.js")) || !existsSync(path.join(appDir, ".env.local"))) return undefined;
      const out = await sh("npx", ["convex-local", "run", "users:viewer", "{}"], { cwd: appDir, timeoutMs: MINUTE });
      return out.trim() === "null" ? true : undefined;
    }, dev.output);

    await sh("bash", ["-euo", "pipefail", "-c", quickstart.secretsScript], { cwd: appDir, timeoutMs: 3 * MINUTE });
    // Type checking is part of next build.
    await sh("npx", ["next", "build"], { cwd: appDir, timeoutMs: 10 * MINUTE });
    const appPort = await freePort();
    appUrl = `http://127.0.0.1:${appPort}`;
    const next = start("npx", ["next", "start", "-p", String(appPort), "-H", "127.0.0.1"], appEnv({ AUTH_TRUST_HOST: "true" }));
    await until("next start to serve", 2 * MINUTE, async () => {
      if (next.child.exitCode !== null) throw new GaveUp(`next start exited with ${next.child.exitCode}`);
      return (await fetch(appUrl)).ok ? true : undefined;
    }, next.output);
  }, 30 * MINUTE);

  test("signed out, the page's fetchQuery sees nobody", async () => {
    const page = await (await get("/")).text();
    expect(page).toContain("Convex sees: <!-- -->nobody");
  });

  test("signs in by magic link through Auth.js's endpoints; Convex holds the token, then the user and session; fetchQuery sees the user", async () => {
    const { csrfToken } = (await (await get("/api/auth/csrf")).json()) as { csrfToken: string };
    const requested = await get("/api/auth/signin/dev-mailbox", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email, csrfToken, callbackUrl: appUrl }).toString(),
    });
    expect(requested.status).toBe(302);
    expect(requested.headers.get("location")).toContain("/api/auth/verify-request");
    expect((await convexData("verificationTokens")).map((token) => token.identifier)).toEqual([email]);

    const mailbox = path.join(appDir, ".dev-mailbox");
    const [message] = readdirSync(mailbox).filter((name) => name.endsWith(".json")).map((name) => JSON.parse(readFileSync(path.join(mailbox, name), "utf8")) as { to: string; url: string });
    expect(message.to).toBe(email);
    const link = new URL(message.url);
    const callback = await get(`${link.pathname}${link.search}`);
    expect(callback.status).toBe(302);

    const session = (await (await get("/api/auth/session")).json()) as { user?: { email?: string; id?: string }; convexToken?: string };
    expect(session.user?.email).toBe(email);
    expect(session.convexToken).toMatch(/^ey/);

    const users = await convexData("users");
    expect(users.map((user) => user.email)).toEqual([email]);
    const sessions = await convexData("sessions");
    expect(sessions.map((doc) => doc.userId)).toEqual([users[0]._id]);
    // Used once, then gone.
    expect(await convexData("verificationTokens")).toEqual([]);

    const page = await (await get("/")).text();
    expect(page).toContain(`Convex sees: <!-- -->${email} (${users[0]._id})`);
  });

  test("limitSignIns: the 6th magic link for one address within the hour ends on Auth.js's error page; other addresses still get theirs", async () => {
    const requestLink = async (address: string, client: string) => {
      const { csrfToken } = (await (await get("/api/auth/csrf")).json()) as { csrfToken: string };
      const response = await get("/api/auth/signin/dev-mailbox", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": client },
        body: new URLSearchParams({ email: address, csrfToken, callbackUrl: appUrl }).toString(),
      });
      return new URL(response.headers.get("location") ?? "", appUrl);
    };
    for (let i = 0; i < 5; i++) expect((await requestLink("limited@example.com", "203.0.113.50")).pathname).toBe("/api/auth/verify-request");
    const refused = await requestLink("limited@example.com", "203.0.113.50");
    expect(`${refused.pathname}${refused.search}`).toBe("/api/auth/error?error=AccessDenied");
    const errorPage = await get(`${refused.pathname}${refused.search}`);
    expect(await errorPage.text()).toContain("Access Denied");
    expect((await requestLink("unlimited@example.com", "203.0.113.50")).pathname).toBe("/api/auth/verify-request");

    // The client address from X-Forwarded-For (read through next/headers): 20 per client, any recipients.
    for (let i = 0; i < 14; i++) expect((await requestLink(`client-${i}@example.com`, "203.0.113.50")).pathname).toBe("/api/auth/verify-request");
    expect((await requestLink("client-14@example.com", "203.0.113.50")).search).toBe("?error=AccessDenied");
    expect((await requestLink("client-14@example.com", "203.0.113.51")).pathname).toBe("/api/auth/verify-request");
  });
});
