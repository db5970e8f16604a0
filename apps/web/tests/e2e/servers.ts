/**
 * Starts the whole app for one end-to-end run, on free ports on 127.0.0.1, touching none of a
 * developer's files: convex-local on a temp data dir, the app's functions pushed by the official
 * `convex deploy`, the development SMTP server and OpenID provider (scripts/dev-services.mjs), and
 * `next dev` with its own build directory. vitest's globalSetup (globalSetup.ts) runs this once;
 * every test file shares it and isolates itself with fresh browser contexts and fresh users.
 *
 * Why `next dev` rather than `next build && next start`: a production build of this app costs
 * minutes of both cores before the first test, while dev compiles only the routes that are
 * visited (warmed once here, so no test waits on a compile); it is also what `npm run dev` runs, and
 * the dev-only mailbox page is part of what is tested.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startIdentityProvider, startMailServer } from "../../scripts/dev-services.mjs";

export const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const repoDir = path.resolve(appDir, "../..");

/** What test files need to reach the running stack (passed through vitest's `provide`/`inject`). */
export interface StackInfo {
  appUrl: string;
  backend: { url: string; siteUrl: string; adminKey: string };
  /** CONVEX_AUTH_ADAPTER_SECRET, for tests that reach into Auth.js's tables through ConvexAdapter. */
  adapterSecret: string;
  idp: { issuer: string };
}

export interface RunningServers {
  info: StackInfo;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Child {
  process: ChildProcess;
  output: string[];
}

/** Spawns `node <args>` in its own process group, keeping the last lines of output for error messages. */
function spawnNode(args: string[], env: Record<string, string | undefined>, onLine?: (line: string) => void): Child {
  // (Next.js types ProcessEnv with a required NODE_ENV; these children may run without one.)
  const child = spawn(process.execPath, args, { cwd: appDir, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const output: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let buffered = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split(/\r?\n/);
      buffered = lines.pop()!;
      for (const line of lines) {
        output.push(line);
        if (output.length > 200) output.shift();
        onLine?.(line);
      }
    });
  }
  return { process: child, output };
}

function bin(relative: string): string {
  return path.join(repoDir, "node_modules", relative);
}

/** Resolves with what `match` extracts from a line, or rejects when the child exits or time runs out. */
function waitForLine<T>(child: Child, match: (line: string) => T | undefined, what: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`timed out after ${timeoutMs / 1000}s`), timeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${what}: ${why}\n${child.output.slice(-30).join("\n")}`));
    };
    for (const line of child.output) {
      const found = match(line);
      if (found !== undefined) return resolve(found);
    }
    child.process.stdout!.on("data", () => {
      for (const line of child.output) {
        const found = match(line);
        if (found !== undefined) {
          clearTimeout(timer);
          return resolve(found);
        }
      }
    });
    child.process.once("exit", (code, signal) => fail(`exited (${signal ?? `code ${code}`})`));
  });
}

function runToEnd(child: Child, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kill(child);
      reject(new Error(`${what}: timed out after ${timeoutMs / 1000}s\n${child.output.join("\n")}`));
    }, timeoutMs);
    child.process.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(child.output.join("\n"));
      else reject(new Error(`${what} failed (code ${code}):\n${child.output.join("\n")}`));
    });
  });
}

function kill(child: Child, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      try {
        process.kill(-child.process.pid!, "SIGKILL");
      } catch {}
    }, 5000);
    child.process.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    try {
      process.kill(-child.process.pid!, signal);
    } catch {
      clearTimeout(force);
      resolve();
    }
  });
}

/** `convex-authjs keys` prints `CONVEX_AUTH_PRIVATE_KEY="…"` (newlines as \n) and `JWKS='…'`. */
function parseKeys(stdout: string): { privateKey: string; jwks: string } {
  const privateKey = /^CONVEX_AUTH_PRIVATE_KEY="(.*)"$/m.exec(stdout)?.[1]?.replace(/\\n/g, "\n");
  const jwks = /^JWKS='(.*)'$/m.exec(stdout)?.[1];
  if (!privateKey || !jwks) throw new Error(`convex-authjs keys printed no key pair:\n${stdout}`);
  return { privateKey, jwks };
}

async function setDeploymentEnv(backend: StackInfo["backend"], variables: Record<string, string>): Promise<void> {
  const response = await fetch(`${backend.url}/api/update_environment_variables`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Convex ${backend.adminKey}` },
    body: JSON.stringify({ changes: Object.entries(variables).map(([name, value]) => ({ name, value })) }),
  });
  if (!response.ok) throw new Error(`setting the deployment's environment failed: ${response.status} ${await response.text()}`);
}

/** Routes the tests visit, compiled once up front so no test waits on `next dev`. */
const WARM_ROUTES = ["/", "/signin", "/signin/check-email", "/signin/error", "/signin/confirm", "/dev/mailbox", "/api/auth/providers", "/notes", "/account"];

export async function startServers(): Promise<RunningServers> {
  const runDir = mkdtempSync(path.join(os.tmpdir(), "web-e2e-"));
  const runId = path.basename(runDir);
  const distDir = `.next-e2e/${runId}`;
  const tsconfigCopy = path.join(appDir, `tsconfig.${runId}.json`);
  const children: Child[] = [];
  const closers: Array<() => Promise<void>> = [];

  async function close() {
    await Promise.all(children.map((child) => kill(child)));
    await Promise.all(closers.map((closeOne) => closeOne()));
    rmSync(path.join(appDir, distDir), { recursive: true, force: true });
    rmSync(tsconfigCopy, { force: true });
    rmSync(runDir, { recursive: true, force: true });
  }

  try {
    // 1. The backend.
    const backendChild = spawnNode(
      [path.join(repoDir, "packages/convex-local/bin/convex-local.js"), "start", "--port", "0", "--site-port", "0", "--data", path.join(runDir, "data")],
      { ...process.env },
    );
    children.push(backendChild);
    const [url, siteUrl] = await waitForLine(
      backendChild,
      (line) => /convex-local ready: deployment (\S+), HTTP actions (\S+)/.exec(line)?.slice(1, 3),
      "convex-local start",
      60_000,
    );
    // `start` prints where the admin key is, not the key.
    const adminKey = readFileSync(path.join(runDir, "data", "admin_key"), "utf8").trim();
    const backend = { url: url!, siteUrl: siteUrl!, adminKey };

    // 2. Secrets, set on the deployment before the push evaluates auth.config.ts.
    const keys = parseKeys(await runToEnd(spawnNode([bin("convex-authjs/bin/convex-authjs.js"), "keys"], { ...process.env }), "convex-authjs keys", 60_000));
    const adapterSecret = randomBytes(32).toString("base64url");
    await setDeploymentEnv(backend, { CONVEX_AUTH_ADAPTER_SECRET: adapterSecret, JWKS: keys.jwks });

    // 3. Push with the official CLI (no codegen: convex/_generated is committed and shared).
    const cliEnv: NodeJS.ProcessEnv = { ...process.env, CONVEX_SELF_HOSTED_URL: backend.url, CONVEX_SELF_HOSTED_ADMIN_KEY: backend.adminKey };
    delete cliEnv.CONVEX_DEPLOYMENT;
    delete cliEnv.CONVEX_DEPLOY_KEY;
    await runToEnd(
      spawnNode([bin("convex/bin/main.js"), "deploy", "--yes", "--typecheck", "disable", "--codegen", "disable"], cliEnv),
      "convex deploy",
      120_000,
    );

    // 4. SMTP and the OpenID provider, in this process.
    const appPort = await freePort();
    const appUrl = `http://localhost:${appPort}`; // a host name, not an IP: WebAuthn needs a domain as its RP ID
    const mail = await startMailServer({ mailboxDir: path.join(runDir, "mailbox") });
    closers.push(mail.close);
    const idp = await startIdentityProvider({
      clientId: "web-e2e",
      clientSecret: randomBytes(24).toString("base64url"),
      appOrigins: [appUrl],
    });
    closers.push(idp.close);

    // 5. Next.js, configured entirely by its environment (which wins over a developer's .env.local).
    writeFileSync(tsconfigCopy, readFileSync(path.join(appDir, "tsconfig.json")));
    // vitest runs with NODE_ENV=test, under which Next.js would not behave as `next dev`.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "NODE_ENV"));
    const nextEnv: Record<string, string | undefined> = {
      ...inherited,
      NEXT_TELEMETRY_DISABLED: "1",
      NEXT_E2E_DIST_DIR: distDir,
      NEXT_E2E_TSCONFIG: path.basename(tsconfigCopy),
      NEXT_PUBLIC_CONVEX_URL: backend.url,
      CONVEX_SITE_URL: backend.siteUrl,
      CONVEX_AUTH_ADAPTER_SECRET: adapterSecret,
      CONVEX_AUTH_PRIVATE_KEY: keys.privateKey,
      AUTH_SECRET: randomBytes(32).toString("base64url"),
      AUTH_URL: `${appUrl}/api/auth`,
      AUTH_TRUST_HOST: "true",
      EMAIL_SERVER: mail.url,
      EMAIL_FROM: "Convex + Auth.js <no-reply@localhost>",
      DEV_MAILBOX_DIR: mail.mailboxDir,
      AUTH_OIDC_ISSUER: idp.issuer,
      AUTH_OIDC_ID: idp.clientId,
      AUTH_OIDC_SECRET: idp.clientSecret,
      AUTH_OIDC_NAME: "Dev IdP",
      AUTH_GITHUB_ID: "",
      AUTH_GITHUB_SECRET: "",
    };
    const nextChild = spawnNode([bin("next/dist/bin/next"), "dev", "--port", String(appPort), "--hostname", "127.0.0.1"], nextEnv);
    children.push(nextChild);
    await waitForLine(nextChild, (line) => (/Ready in/.test(line) ? true : undefined), "next dev", 120_000);
    for (const route of WARM_ROUTES) {
      const response = await fetch(`http://127.0.0.1:${appPort}${route}`, { redirect: "manual", signal: AbortSignal.timeout(180_000) });
      if (response.status >= 500) throw new Error(`next dev: GET ${route} answered ${response.status}:\n${nextChild.output.slice(-40).join("\n")}`);
    }
    return { info: { appUrl, backend, adapterSecret, idp: { issuer: idp.issuer } }, close };
  } catch (error) {
    await close();
    throw error;
  }
}
