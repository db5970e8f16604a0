/**
 * `convex-local`: start the embedded backend, or drive the official `convex` CLI against it.
 *
 *   convex-local start [--port 3210] [--site-port 3211] [--data DIR] [--admin-key KEY] [--action-timeout S] [--node-action-timeout S]
 *   convex-local admin-key [--data DIR]
 *   convex-local dev [--dir convex] [--port ...] [--data ...] [--once]
 *   convex-local deploy | env set|get|list|remove NAME [VALUE] | run [--component PATH] FUNCTION [ARGS_JSON]
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { parseArgs } from "node:util";
import { adminKeyFile, startBackend, loadOrCreateAdminKey, readAdminKey, type Backend } from "../api/backend.js";
import { ownerOnlyFile } from "../storage/index.js";
import { keepRunningOnUnattributedFailures } from "../runtime/crashAttribution.js";
import { printLogs } from "./printLogs.js";
import { terminalText } from "../text/terminalText.js";

const USAGE = `Usage: convex-local <command> [options]

Commands:
  start                         Serve the deployment API and HTTP actions
  admin-key                     Print the admin key stored in the state directory
  dev                           Start (if needed), push convex/, watch, keep _generated and .env.local current
  deploy                        Push the app's functions once (npx convex deploy)
  env set|get|list|remove ...   Manage deployment environment variables
  run FUNCTION [ARGS_JSON]      Run a function (internal ones too) and print its result

Options:
  --port N          deployment API port (default 3210)
  --site-port N     HTTP actions port (default: port + 1)
  --data DIR        state directory (default ./.convex-local)
  --admin-key KEY   admin key (default: generated and stored in the state directory, never printed by start)
  --dir DIR         functions directory for dev (default convex)
  --url URL         deployment URL for deploy/env/run (default from .env.local or http://127.0.0.1:3210)
  --once            dev: push once and exit instead of watching
  --component PATH  run: the function is the component's at PATH (names from convex.config.ts, e.g. rateLimiter)
  --action-timeout S       start/dev: time limit of default-runtime and HTTP actions, seconds (default 1800, as on Convex)
  --node-action-timeout S  start/dev: time limit of "use node" actions, seconds (default 600, as on Convex)
`;

export class UsageError extends Error {}

interface Options {
  port: number;
  sitePort: number;
  data: string;
  adminKey?: string;
  dir: string;
  url?: string;
  once: boolean;
  /** `run`: the component whose function to run (its path, names joined by "/"). */
  component?: string;
  actionTimeoutMs?: number;
  nodeActionTimeoutMs?: number;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      "site-port": { type: "string" },
      data: { type: "string" },
      "admin-key": { type: "string" },
      dir: { type: "string" },
      url: { type: "string" },
      once: { type: "boolean" },
      component: { type: "string" },
      "action-timeout": { type: "string" },
      "node-action-timeout": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 1 : 0;
  }
  const port = parsePort(values.port ?? "3210", "--port");
  const options: Options = {
    port,
    sitePort: parsePort(values["site-port"] ?? String(port + 1), "--site-port"),
    data: path.resolve(values.data ?? ".convex-local"),
    adminKey: values["admin-key"],
    dir: values.dir ?? "convex",
    url: values.url,
    once: values.once ?? false,
    component: values.component,
    actionTimeoutMs: parseSeconds(values["action-timeout"], "--action-timeout"),
    nodeActionTimeoutMs: parseSeconds(values["node-action-timeout"], "--node-action-timeout"),
  };
  switch (command) {
    case "start":
      return await start(options);
    case "admin-key":
      return printAdminKey(options);
    case "dev":
      return await dev(options);
    case "deploy":
      return await runOfficialCli(["deploy", "--yes"], deploymentOf(options));
    case "env":
      return await env(rest, options);
    case "run":
      return await run(rest, options);
    default:
      throw new UsageError(`Unknown command "${command}".\n\n${USAGE}`);
  }
}

function parsePort(text: string, flag: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${flag} must be a port number (0-65535), got "${text}"`);
  return port;
}

/** A time limit given in seconds, as milliseconds; undefined when the flag is absent. */
function parseSeconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new UsageError(`${flag} must be a number of seconds above 0, got "${text}"`);
  return seconds * 1000;
}

async function start(options: Options): Promise<number> {
  const backend = await startServing(options);
  printLogs(backend);
  // Never the key itself: this output ends up in CI logs and terminal scrollback.
  if (options.adminKey === undefined) {
    console.log(`convex-local: the admin key is in ${adminKeyFile(options.data)} (print it with: convex-local admin-key --data ${options.data})`);
  }
  console.log(`convex-local ready: deployment ${backend.url}, HTTP actions ${backend.siteUrl}`);
  await untilSignal();
  await backend.close();
  return 0;
}

/** Starts the backend to serve from this process: no failure outside a function may end it. */
function startServing(options: Options): Promise<Backend> {
  keepRunningOnUnattributedFailures();
  return startBackend({
    dataDir: options.data,
    port: options.port,
    sitePort: options.sitePort,
    adminKey: options.adminKey,
    appDirectory: process.cwd(),
    actionTimeoutMs: options.actionTimeoutMs,
    nodeActionTimeoutMs: options.nodeActionTimeoutMs,
  });
}

/** Prints the stored admin key: only here, where the user asks for it. */
function printAdminKey(options: Options): number {
  const adminKey = readAdminKey(options.data);
  if (adminKey === undefined) throw new UsageError(`${options.data} holds no admin key: \`convex-local start --data ${options.data}\` generates one.`);
  console.log(adminKey);
  return 0;
}

/** Starts the backend in this process unless one already answers on the port, then runs `convex dev`. */
async function dev(options: Options): Promise<number> {
  const existing = `http://127.0.0.1:${options.port}`;
  let backend: Backend | undefined;
  let deployment: { url: string; adminKey: string; siteUrl: string };
  if (await answers(existing)) {
    const adminKey = options.adminKey ?? readAdminKey(options.data);
    if (adminKey === undefined) {
      throw new UsageError(`A backend already answers at ${existing}, but ${options.data} holds no admin key for it: pass --admin-key or --data, or stop it.`);
    }
    deployment = { url: existing, siteUrl: `http://127.0.0.1:${options.sitePort}`, adminKey };
    console.log(`convex-local: using the backend already running at ${existing}`);
  } else {
    backend = await startServing(options);
    printLogs(backend);
    deployment = backend;
  }
  writeEnvLocal(path.resolve(".env.local"), {
    NEXT_PUBLIC_CONVEX_URL: deployment.url,
    CONVEX_SITE_URL: deployment.siteUrl,
    CONVEX_SELF_HOSTED_URL: deployment.url,
    CONVEX_SELF_HOSTED_ADMIN_KEY: deployment.adminKey,
  });
  console.log(`convex-local ready: deployment ${deployment.url}, HTTP actions ${deployment.siteUrl} (.env.local updated)`);
  useFunctionsDirectory(options.dir);
  const args = ["dev", "--typecheck", "disable", "--tail-logs", "disable"];
  if (options.once) args.push("--once");
  const code = await runOfficialCli(args, deployment, options.once ? undefined : () => untilSignal());
  await backend?.close();
  return code;
}

async function env(args: string[], options: Options): Promise<number> {
  const [action, name, value] = args;
  const deployment = deploymentOf(options);
  switch (action) {
    case "list":
      return await runOfficialCli(["env", "list"], deployment);
    case "get":
    case "remove":
      if (name === undefined) throw new UsageError(`convex-local env ${action} NAME`);
      return await runOfficialCli(["env", action, name], deployment);
    case "set":
      if (name === undefined || value === undefined) throw new UsageError("convex-local env set NAME VALUE");
      return await runOfficialCli(["env", "set", name, value], deployment);
    default:
      throw new UsageError("convex-local env set|get|list|remove NAME [VALUE]");
  }
}

async function run(args: string[], options: Options): Promise<number> {
  const [functionPath, argsJson = "{}"] = args;
  if (functionPath === undefined) throw new UsageError("convex-local run FUNCTION [ARGS_JSON]");
  let parsed: unknown;
  try {
    parsed = JSON.parse(argsJson);
  } catch (error) {
    throw new UsageError(`ARGS_JSON is not valid JSON: ${(error as Error).message}`);
  }
  const deployment = deploymentOf(options);
  const response = await fetch(`${deployment.url}/api/function`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Convex ${deployment.adminKey}` },
    body: JSON.stringify({ path: functionPath, args: parsed, format: "json", ...(options.component ? { componentPath: options.component } : {}) }),
  });
  const body = (await response.json()) as { status?: string; value?: unknown; errorMessage?: string; logLines?: string[]; message?: string };
  for (const line of body.logLines ?? []) console.error(terminalText(line));
  if (body.status === "success") {
    // JSON escapes C0 controls but not DEL and C1.
    console.log(terminalText(JSON.stringify(body.value, null, 2)));
    return 0;
  }
  console.error(terminalText(body.errorMessage ?? body.message ?? JSON.stringify(body)));
  return 1;
}

/** Where deploy/env/run talk to: flags, then the environment, then .env.local, then the defaults. */
function deploymentOf(options: Options): { url: string; adminKey: string } {
  const fromFile = existsSync(".env.local") ? parseEnvFile(readFileSync(".env.local", "utf8")) : {};
  const url = options.url ?? process.env.CONVEX_SELF_HOSTED_URL ?? fromFile.CONVEX_SELF_HOSTED_URL ?? `http://127.0.0.1:${options.port}`;
  const adminKey =
    options.adminKey ?? process.env.CONVEX_SELF_HOSTED_ADMIN_KEY ?? fromFile.CONVEX_SELF_HOSTED_ADMIN_KEY ?? loadOrCreateAdminKey(options.data);
  return { url, adminKey };
}

/** Runs the official `convex` CLI in self-hosted mode against the deployment. */
function runOfficialCli(args: string[], deployment: { url: string; adminKey: string }, stopWhen?: () => Promise<void>): Promise<number> {
  const cli = officialCliPath();
  const environment: NodeJS.ProcessEnv = { ...process.env, CONVEX_SELF_HOSTED_URL: deployment.url, CONVEX_SELF_HOSTED_ADMIN_KEY: deployment.adminKey };
  delete environment.CONVEX_DEPLOYMENT;
  delete environment.CONVEX_DEPLOY_KEY;
  const child = spawn(process.execPath, [cli, ...args], { stdio: "inherit", env: environment });
  void stopWhen?.().then(() => child.kill("SIGINT"));
  return new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal === "SIGINT" ? 0 : 1))));
}

/** The app's own `convex` CLI (its package exports hide `bin/`, so go through package.json). */
function officialCliPath(): string {
  const manifestPath = createRequire(path.resolve("package.json")).resolve("convex/package.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { bin: { convex: string } };
  return path.join(path.dirname(manifestPath), manifest.bin.convex);
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/version`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/**
 * The official CLI reads the functions directory from convex.json: record `--dir` there, refusing
 * to silently override a different setting.
 */
function useFunctionsDirectory(dir: string): void {
  const file = path.resolve("convex.json");
  const config = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { functions?: string }) : {};
  const current = (config.functions ?? "convex").replace(/\/$/, "");
  const wanted = dir.replace(/\/$/, "");
  if (current === wanted) return;
  if (config.functions !== undefined) {
    throw new UsageError(`--dir ${dir} conflicts with "functions": "${config.functions}" in convex.json; change one of them.`);
  }
  writeFileSync(file, `${JSON.stringify({ ...config, functions: wanted }, null, 2)}\n`);
  console.log(`convex-local: wrote "functions": "${wanted}" to convex.json`);
}

/**
 * Sets the given variables in an env file, keeping every other line as it was. The file is made
 * owner-only before it is written: it holds the admin key.
 */
export function writeEnvLocal(file: string, variables: Record<string, string>): void {
  ownerOnlyFile(file);
  const lines = readFileSync(file, "utf8").split("\n");
  const remaining = new Map(Object.entries(variables));
  const updated = lines.map((line) => {
    const name = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
    if (name === undefined || !remaining.has(name)) return line;
    const value = remaining.get(name)!;
    remaining.delete(name);
    return `${name}=${value}`;
  });
  while (updated.length > 0 && updated[updated.length - 1] === "") updated.pop();
  for (const [name, value] of remaining) updated.push(`${name}=${value}`);
  writeFileSync(file, `${updated.join("\n")}\n`);
}

export function parseEnvFile(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/.exec(line);
    if (match) result[match[1]] = match[2].replace(/^(['"])(.*)\1$/, "$2");
  }
  return result;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
