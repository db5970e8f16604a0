/**
 * `npm run test:node24 [-- [--node VERSION] [--convex VERSION|locked] [vitest args…]]`: the whole
 * suite (`npm test`) on another Node than the machine's, with another `convex` than the locked one —
 * by default Node 24 (the current LTS) and the newest `convex` 1.x this project was checked against,
 * whose CLI needs Node ≥ 22.
 *
 * Native modules (better-sqlite3) are built for one Node major, so the run cannot share this
 * checkout's node_modules: it copies the checkout's files (tracked and untracked, not ignored, so
 * uncommitted changes are tested too) to a scratch directory, installs Node from the npm registry
 * (the `node-<platform>-<arch>` package: its binary and its headers, which node-gyp builds against),
 * runs `npm ci` and `npm install --no-save convex@VERSION` there with that Node first on PATH, and
 * then `npm test`. This checkout is left as it was. Exits with `npm test`'s status.
 *
 * @example
 * npm run test:node24                                  # Node 24.22.3, convex 1.51.0
 * npm run test:node24 -- --convex locked               # Node 24 with package-lock's convex
 * npm run test:node24 -- packages/convex-local/test/functions.test.ts
 * TEST_NODE24_DIR=/tmp/n24 node scripts/test-node24.mjs --reporter=json --outputFile=/tmp/r.json
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The Node this run uses unless `--node` says otherwise: the current LTS. */
const DEFAULT_NODE = "24.22.3";
/**
 * The newest `convex` 1.x this project was checked against (the oldest supported is the one in
 * package-lock.json). Raise it when a newer 1.x passes; the run says when npm has one.
 */
const LATEST_CHECKED_CONVEX = "1.51.0";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const { nodeVersion, convexVersion, testArgs } = parseArguments(process.argv.slice(2));
const workDir = process.env.TEST_NODE24_DIR ?? path.join(os.tmpdir(), `convex-authjs-node${nodeVersion.split(".")[0]}`);
const copyDir = path.join(workDir, "repo");

const outsideNpmRun = withoutNpmRunVariables(process.env);
const node = installNode(nodeVersion, path.join(workDir, "node"));
const environment = { ...outsideNpmRun, PATH: `${path.dirname(node.binary)}${path.delimiter}${process.env.PATH}`, npm_config_nodedir: node.root };

progress(`copying ${repoRoot} to ${copyDir}`);
copyCheckout(repoRoot, copyDir);
progress(`npm ci with Node ${nodeVersion} (better-sqlite3 is compiled for it)`);
npm(["ci", "--no-audit", "--no-fund"]);
if (convexVersion !== "locked") {
  progress(`installing convex ${convexVersion} in place of the locked one`);
  npm(["install", "--no-save", "--no-audit", "--no-fund", `convex@${convexVersion}`]);
  noteNewerConvex();
}
const installed = convexCopies(copyDir);
if (installed.length !== 1 || (convexVersion !== "locked" && installed[0].version !== convexVersion)) {
  throw new Error(`expected one copy of convex${convexVersion === "locked" ? "" : ` ${convexVersion}`} in ${copyDir}, found: ${installed.map((copy) => `${copy.dir} (${copy.version})`).join(", ") || "none"}`);
}

progress(`npm test with Node ${nodeVersion} and convex ${installed[0].version}`);
const test = spawnSync("npm", ["test", ...(testArgs.length > 0 ? ["--", ...testArgs] : [])], { cwd: copyDir, env: environment, stdio: "inherit" });
process.exit(test.status ?? 1);

function parseArguments(args) {
  let nodeVersion = DEFAULT_NODE;
  let convexVersion = LATEST_CHECKED_CONVEX;
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--node" || args[i] === "--convex") {
      const value = args[++i];
      if (value === undefined) throw new Error(`${args[i - 1]} needs a value`);
      if (args[i - 1] === "--node") nodeVersion = value;
      else convexVersion = value;
    } else {
      rest.push(args[i]);
    }
  }
  if (!/^\d+\.\d+\.\d+$/.test(nodeVersion)) throw new Error(`--node wants an exact version such as ${DEFAULT_NODE}, got ${nodeVersion}`);
  return { nodeVersion, convexVersion, testArgs: rest };
}

/** Node `version` from the npm registry into `prefix` (kept between runs); its binary and the directory holding `include/node`. */
function installNode(version, prefix) {
  const packageName = `node-${process.platform}-${process.arch}`;
  const root = path.join(prefix, "node_modules", packageName);
  const binary = path.join(root, "bin", "node");
  const current = existsSync(binary) ? execFileSync(binary, ["--version"], { encoding: "utf8" }).trim() : undefined;
  if (current !== `v${version}`) {
    progress(`installing Node ${version} (${packageName}) into ${prefix}`);
    mkdirSync(prefix, { recursive: true });
    const install = ["install", "--prefix", prefix, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", `${packageName}@${version}`];
    execFileSync("npm", install, { env: outsideNpmRun, stdio: ["ignore", process.stderr, process.stderr] });
  }
  if (!existsSync(path.join(root, "include", "node", "node_api.h"))) throw new Error(`${packageName}@${version} has no headers in ${root}/include/node: native modules cannot be built for it`);
  return { binary, root };
}

/** Copies the checkout's files (tracked and untracked, not ignored) into a fresh `target`. */
function copyCheckout(source, target) {
  rmSync(target, { recursive: true, force: true });
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: source, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  for (const file of new Set(listed.split("\0").filter(Boolean))) {
    const from = path.join(source, file);
    if (!existsSync(from) || lstatSync(from).isDirectory()) continue; // deleted in the checkout, or a nested repository
    mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
    cpSync(from, path.join(target, file), { verbatimSymlinks: true });
  }
}

function npm(args) {
  execFileSync("npm", args, { cwd: copyDir, env: environment, stdio: ["ignore", process.stderr, process.stderr] });
}

/** Every installed `convex` package in the copy, at its root and in its workspaces (one expected: a second would mean two versions in play). */
function convexCopies(root) {
  const workspaces = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).workspaces ?? [];
  const dirs = [root];
  for (const pattern of workspaces) {
    const parent = path.join(root, pattern.replace(/\/\*$/, ""));
    if (existsSync(parent)) dirs.push(...readdirSync(parent).map((entry) => path.join(parent, entry)));
  }
  return dirs
    .map((dir) => path.join(dir, "node_modules", "convex", "package.json"))
    .filter((manifest) => existsSync(manifest))
    .map((manifest) => ({ dir: path.relative(root, path.dirname(manifest)), version: JSON.parse(readFileSync(manifest, "utf8")).version }));
}

/** Says when npm has a newer `convex` 1.x than the one this run checks (the run goes on either way). */
function noteNewerConvex() {
  try {
    const versions = JSON.parse(execFileSync("npm", ["view", "convex@1", "version", "--json"], { cwd: copyDir, env: environment, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
    const newest = [versions].flat().filter((version) => /^\d+\.\d+\.\d+$/.test(version)).sort(compareVersions).at(-1);
    if (newest !== undefined && compareVersions(newest, LATEST_CHECKED_CONVEX) > 0) {
      progress(`note: npm has convex ${newest}, newer than ${LATEST_CHECKED_CONVEX} (LATEST_CHECKED_CONVEX in scripts/test-node24.mjs)`);
    }
  } catch {
    // Offline or the registry is slow: the check is only advice.
  }
}

function compareVersions(a, b) {
  const [pa, pb] = [a, b].map((version) => version.split(".").map(Number));
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/**
 * The environment without what an enclosing `npm run` adds that names this checkout or its npm
 * (`npm_config_local_prefix` would make the copy's `npm ci` install here); the user's own npm
 * settings (registry, proxy, cache) stay.
 */
function withoutNpmRunVariables(variables) {
  const own = /^npm_(package_|lifecycle_|command$|execpath$|node_execpath$|config_local_prefix$|config_user_agent$|config_npm_version$|config_node_gyp$|config_nodedir$)/;
  return Object.fromEntries(Object.entries(variables).filter(([name]) => !own.test(name)));
}

function progress(message) {
  console.error(`test-node24: ${message}`);
}
