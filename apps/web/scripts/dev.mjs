#!/usr/bin/env node
/**
 * The whole development stack for apps/web, in one command (`npm run dev`):
 *
 *  1. the embedded backend (`convex-local start`) on 127.0.0.1:3210, HTTP actions on 3211, data in
 *     apps/web/.convex-local; .env.local gets NEXT_PUBLIC_CONVEX_URL, CONVEX_SITE_URL,
 *     CONVEX_SELF_HOSTED_URL and CONVEX_SELF_HOSTED_ADMIN_KEY;
 *  2. first run: generates AUTH_SECRET and CONVEX_AUTH_ADAPTER_SECRET (in .env.local, the adapter
 *     secret on the deployment too) and the token signing key pair (`convex-authjs keys --set`:
 *     private key in .env.local, JWKS on the deployment); later runs only repair what is missing
 *     or mismatched;
 *  3. the official `convex dev` against it: pushes convex/, keeps convex/_generated current,
 *     re-pushes on change;
 *  4. the development mail server (SMTP on 127.0.0.1:2525, messages in apps/web/.dev-mailbox, read at
 *     /dev/mailbox) and OpenID provider (127.0.0.1:3212, account dev/dev), in this process, unless
 *     .env.local points EMAIL_SERVER or AUTH_OIDC_ISSUER somewhere else; first run generates the
 *     OIDC client secret;
 *  5. `next dev -p 3000`.
 *
 * This is what `convex-local dev` does, split up so the secrets are in place before the first
 * push and before Next.js reads .env.local. (Also: `convex-local dev|env|deploy` in convex-local
 * 0.1.0 resolve "convex/bin/main.js", which convex's package exports do not allow.)
 *
 * Prints one summary once everything is up; Ctrl-C (SIGINT/SIGTERM) stops everything.
 * Environment: PORT (Next.js, default 3000), CONVEX_LOCAL_PORT (default 3210; HTTP actions +1),
 * DEV_SMTP_PORT (default 2525), DEV_IDP_PORT (default 3212).
 */
import { spawn, spawnSync } from "node:child_process";
import { createPublicKey, randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEV_ACCOUNT, startIdentityProvider, startMailServer } from "./dev-services.mjs";

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const envFile = path.join(appDir, ".env.local");
const dataDir = path.join(appDir, ".convex-local");
const nextPort = Number(process.env.PORT ?? 3000);
const convexPort = Number(process.env.CONVEX_LOCAL_PORT ?? 3210);
const smtpPort = Number(process.env.DEV_SMTP_PORT ?? 2525);
const idpPort = Number(process.env.DEV_IDP_PORT ?? 3212);
const mailboxDir = path.join(appDir, ".dev-mailbox");
const require = createRequire(path.join(appDir, "package.json"));

/** A package's bin script, resolved from the app. */
function binOf(pkg, name = pkg) {
  // Not require.resolve(`${pkg}/package.json`): packages with "exports" may not expose it.
  let manifestPath;
  for (let dir = appDir; !manifestPath; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", pkg, "package.json");
    if (existsSync(candidate)) manifestPath = candidate;
    else if (path.dirname(dir) === dir) throw new Error(`${pkg} is not installed: run npm install at the repository root.`);
  }
  const { bin } = JSON.parse(readFileSync(manifestPath, "utf8"));
  return path.join(path.dirname(manifestPath), typeof bin === "string" ? bin : bin[name]);
}

function log(message) {
  process.stdout.write(`[dev] ${message}\n`);
}

// ---------------------------------------------------------------- .env.local

function readEnvFile() {
  if (!existsSync(envFile)) return {};
  const result = {};
  for (const line of readFileSync(envFile, "utf8").split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) continue;
    let value = match[2];
    if (/^".*"$/.test(value)) value = value.slice(1, -1).replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    else if (/^'.*'$/.test(value)) value = value.slice(1, -1);
    result[match[1]] = value;
  }
  return result;
}

/**
 * Sets single-line variables, keeping every other line of the file. The file holds secrets (the admin
 * key, AUTH_SECRET): owner-only, an existing one made so before it is written.
 */
function setEnvFileVariables(variables) {
  if (existsSync(envFile)) chmodSync(envFile, 0o600);
  const lines = existsSync(envFile) ? readFileSync(envFile, "utf8").split("\n") : [];
  const remaining = new Map(Object.entries(variables));
  const updated = lines.map((line) => {
    const name = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
    if (name === undefined || !remaining.has(name)) return line;
    const value = remaining.get(name);
    remaining.delete(name);
    return `${name}=${value}`;
  });
  while (updated.length > 0 && updated[updated.length - 1] === "") updated.pop();
  for (const [name, value] of remaining) updated.push(`${name}=${value}`);
  writeFileSync(envFile, `${updated.join("\n")}\n`, { mode: 0o600 });
}

// ---------------------------------------------------------------- children

const children = [];
/** In-process servers (SMTP, IdP) to close on the way out. */
const services = [];
let stopping = false;

/** Spawns a child in its own process group, prefixing its output lines. */
function start(label, args, { env = {}, onLine } = {}) {
  const child = spawn(process.execPath, args, {
    cwd: appDir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  children.push({ label, child });
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      buffered += chunk;
      const lines = buffered.split(/\r?\n/);
      buffered = lines.pop();
      for (const line of lines) {
        process.stdout.write(`[${label}] ${line}\n`);
        onLine?.(line);
      }
    });
  }
  child.on("exit", (code, signal) => {
    if (stopping) return;
    log(`${label} exited (${signal ?? `code ${code}`}); stopping everything.`);
    void stop(code || 1);
  });
  return child;
}

function withTimeout(promise, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  log("stopping…");
  await Promise.all(services.map((service) => service.close().catch(() => {})));
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", resolve);
          // SIGINT lets convex-local close its database and the convex CLI cleanly.
          try {
            process.kill(-child.pid, "SIGINT");
          } catch {
            return resolve();
          }
          setTimeout(() => {
            try {
              process.kill(-child.pid, "SIGKILL");
            } catch {}
          }, 8000).unref();
        }),
    ),
  );
  process.exit(code);
}

process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

// ---------------------------------------------------------------- secrets

/** The environment under which the official convex CLI talks to the local deployment. */
function selfHostedEnv(deployment) {
  const env = { ...process.env, CONVEX_SELF_HOSTED_URL: deployment.url, CONVEX_SELF_HOSTED_ADMIN_KEY: deployment.adminKey };
  delete env.CONVEX_DEPLOYMENT;
  delete env.CONVEX_DEPLOY_KEY;
  return env;
}

/** Runs the official convex CLI once (`convex env ...`). */
function convexCli(args, deployment) {
  const result = spawnSync(process.execPath, [binOf("convex"), ...args], { cwd: appDir, encoding: "utf8", env: selfHostedEnv(deployment) });
  if (result.status !== 0) throw new Error(`convex ${args.slice(0, 2).join(" ")} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

/** The deployment's environment variables (`convex env list` prints NAME=value lines). */
function deploymentEnv(deployment) {
  const env = {};
  for (const line of convexCli(["env", "list"], deployment).split("\n")) {
    const index = line.indexOf("=");
    if (index > 0) env[line.slice(0, index)] = line.slice(index + 1);
  }
  return env;
}

/** Whether the private key's public half is in the JWKS, i.e. Convex will accept the tokens it signs. */
function keyMatchesJwks(privateKeyPem, jwksText) {
  try {
    const jwk = createPublicKey(privateKeyPem).export({ format: "jwk" });
    const { keys } = JSON.parse(jwksText);
    return keys.some((key) => (jwk.n ? key.n === jwk.n && key.e === jwk.e : key.x === jwk.x && key.y === jwk.y));
  } catch {
    return false;
  }
}

function ensureSecrets(deployment) {
  const local = readEnvFile();
  const remote = deploymentEnv(deployment);
  const generated = [];

  const fileUpdates = {};
  if (!local.AUTH_SECRET) {
    fileUpdates.AUTH_SECRET = randomBytes(32).toString("base64url");
    generated.push("AUTH_SECRET");
  }
  let adapterSecret = local.CONVEX_AUTH_ADAPTER_SECRET;
  if (!adapterSecret) {
    adapterSecret = randomBytes(32).toString("base64url");
    fileUpdates.CONVEX_AUTH_ADAPTER_SECRET = adapterSecret;
    generated.push("CONVEX_AUTH_ADAPTER_SECRET");
  }
  if (Object.keys(fileUpdates).length > 0) setEnvFileVariables(fileUpdates);
  if (remote.CONVEX_AUTH_ADAPTER_SECRET !== adapterSecret) {
    convexCli(["env", "set", "CONVEX_AUTH_ADAPTER_SECRET", adapterSecret], deployment);
    generated.push("CONVEX_AUTH_ADAPTER_SECRET on the deployment");
  }

  const privateKey = local.CONVEX_AUTH_PRIVATE_KEY;
  if (!privateKey || !remote.JWKS || !keyMatchesJwks(privateKey, remote.JWKS)) {
    // JWKS to the deployment first, then CONVEX_AUTH_PRIVATE_KEY to .env.local.
    const result = spawnSync(process.execPath, [binOf("convex-authjs"), "keys", "--set", "--env-file", envFile], {
      cwd: appDir,
      encoding: "utf8",
      env: selfHostedEnv(deployment),
    });
    if (result.status !== 0) throw new Error(`convex-authjs keys --set failed: ${result.stderr.trim()}`);
    generated.push("signing key pair (CONVEX_AUTH_PRIVATE_KEY, JWKS)");
  }
  return generated;
}

// ---------------------------------------------------------------- mail and OpenID provider

/**
 * Starts the local SMTP server and OpenID provider that .env.local points the app at, and returns
 * summary lines. A developer who set EMAIL_SERVER or AUTH_OIDC_ISSUER to a real service keeps it.
 */
async function startSignInServices() {
  const local = readEnvFile();
  const lines = [];
  const updates = {};

  const smtpUrl = `smtp://127.0.0.1:${smtpPort}`;
  if (!local.EMAIL_SERVER || local.EMAIL_SERVER === smtpUrl) {
    const mail = await startMailServer({ port: smtpPort, mailboxDir });
    services.push(mail);
    Object.assign(updates, { EMAIL_SERVER: mail.url, DEV_MAILBOX_DIR: mailboxDir });
    lines.push(`  SMTP             ${mail.url}   (every email lands in the mailbox below)`);
    lines.push(`  Mailbox          http://localhost:${nextPort}/dev/mailbox`);
  } else {
    lines.push(`  Email            sent through EMAIL_SERVER from .env.local`);
  }

  const issuer = `http://127.0.0.1:${idpPort}`;
  if (!local.AUTH_OIDC_ISSUER || local.AUTH_OIDC_ISSUER === issuer) {
    const clientSecret = local.AUTH_OIDC_SECRET || randomBytes(32).toString("base64url");
    const idp = await startIdentityProvider({
      port: idpPort,
      clientId: "web-dev",
      clientSecret,
      appOrigins: [`http://localhost:${nextPort}`, `http://127.0.0.1:${nextPort}`],
    });
    services.push(idp);
    Object.assign(updates, { AUTH_OIDC_ISSUER: idp.issuer, AUTH_OIDC_ID: idp.clientId, AUTH_OIDC_SECRET: clientSecret });
    if (!local.AUTH_OIDC_NAME) updates.AUTH_OIDC_NAME = "Dev IdP";
    lines.push(`  OpenID provider  ${idp.issuer}   (account ${DEV_ACCOUNT.username} / ${DEV_ACCOUNT.password})`);
  } else {
    lines.push(`  OpenID provider  ${local.AUTH_OIDC_ISSUER} (AUTH_OIDC_ISSUER in .env.local)`);
  }
  if (Object.keys(updates).length > 0) setEnvFileVariables(updates);
  return lines;
}

// ---------------------------------------------------------------- main

async function main() {
  const convexLocalBin = binOf("convex-local");
  if (!existsSync(path.join(path.dirname(convexLocalBin), "..", "dist"))) {
    throw new Error("packages are not built: run `npm run dev` (or `npm run build`) at the repository root.");
  }

  // 1. The backend.
  let backendReady;
  const backendUp = new Promise((resolve) => (backendReady = resolve));
  start("backend", [convexLocalBin, "start", "--port", String(convexPort), "--site-port", String(convexPort + 1), "--data", dataDir], {
    onLine(line) {
      if (line.includes("convex-local ready")) backendReady();
    },
  });
  await withTimeout(backendUp, 60_000, "the Convex backend");
  const deployment = {
    url: `http://127.0.0.1:${convexPort}`,
    siteUrl: `http://127.0.0.1:${convexPort + 1}`,
    adminKey: readFileSync(path.join(dataDir, "admin_key"), "utf8").trim(),
  };
  setEnvFileVariables({
    NEXT_PUBLIC_CONVEX_URL: deployment.url,
    CONVEX_SITE_URL: deployment.siteUrl,
    CONVEX_SELF_HOSTED_URL: deployment.url,
    CONVEX_SELF_HOSTED_ADMIN_KEY: deployment.adminKey,
  });

  // 2. Secrets, before anything reads them.
  for (const item of ensureSecrets(deployment)) log(`generated ${item}`);

  // 3. Push and watch.
  let pushed;
  let pushErrors = 0;
  const firstPush = new Promise((resolve) => (pushed = resolve));
  start("convex", [binOf("convex"), "dev", "--typecheck", "disable", "--tail-logs", "disable"], {
    env: selfHostedEnv(deployment),
    onLine(line) {
      if (/Convex functions ready/.test(line)) pushed(true);
      else if (/✖|\berror\b/i.test(line)) {
        pushErrors++;
        pushed(false);
      }
    },
  });

  // 4. Sign-in services, before Next.js reads .env.local.
  const serviceLines = await startSignInServices().catch((error) => {
    if (error.code !== "EADDRINUSE") throw error;
    throw new Error(`port ${error.port} is taken (${error.message}); set DEV_SMTP_PORT or DEV_IDP_PORT to free ones.`);
  });

  // 5. Next.js.
  let nextReady;
  const nextUp = new Promise((resolve) => (nextReady = resolve));
  start("next", [require.resolve("next/dist/bin/next"), "dev", "-p", String(nextPort)], {
    env: { NEXT_TELEMETRY_DISABLED: "1" },
    onLine(line) {
      if (/Ready in/.test(line)) nextReady();
    },
  });

  const pushOk = await withTimeout(firstPush, 120_000, "the first push").catch(() => false);
  await withTimeout(nextUp, 120_000, "Next.js");

  const summary = [
    "",
    "──────────────────────────────────────────────────────────────",
    `  App              http://localhost:${nextPort}`,
    `  Convex           ${deployment.url}   (data: ${path.relative(process.cwd(), dataDir) || dataDir})`,
    `  HTTP actions     ${deployment.siteUrl}   (JWKS: ${deployment.siteUrl}/.well-known/jwks.json)`,
    ...serviceLines,
    `  Functions        ${pushOk ? "pushed from convex/, watching for changes" : `NOT pushed (${pushErrors ? "see the errors above" : "no answer yet"}); fix convex/ and save to retry`}`,
    `  Env file         ${path.relative(process.cwd(), envFile) || envFile}`,
    "  Ctrl-C stops everything.",
    "──────────────────────────────────────────────────────────────",
    "",
  ];
  process.stdout.write(summary.join("\n"));
}

main().catch((error) => {
  log(`error: ${error.message}`);
  void stop(1);
});
