/**
 * Secrets at rest and in output (issue #13, finding 8): the data directory is owner-only (0700), and
 * so are the files holding secrets (0600): the database with its -wal and -shm files, `admin_key`,
 * and the `.env.local` that `dev` writes; also when an older version left them readable by others.
 * `start` says where the admin key is but prints it only when asked (`convex-local admin-key`).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../harness.js";
import { securityTarget } from "./target.js";

const bin = path.join(repoRoot, "packages/convex-local/bin/convex-local.js");
const DATABASE_FILES = ["convex.sqlite3", "convex.sqlite3-wal", "convex.sqlite3-shm"];

const target = securityTarget();
const scratch = mkdtempSync(path.join(tmpdir(), "convex-local-secrets-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const modeOf = (file: string) => statSync(file).mode & 0o777;

/** A running `convex-local` child and everything it printed. */
interface Child {
  process: ChildProcess;
  /** Its exit code, once it exited. */
  exited: Promise<number | null>;
  output(): string;
}

/** Runs the bin with `args` in `cwd`, resolving once it printed `ready`. */
async function startBin(args: string[], cwd = scratch): Promise<Child> {
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"], env: withoutConvexVariables() });
  const printed: Buffer[] = [];
  child.stderr!.on("data", (chunk: Buffer) => printed.push(chunk));
  const output = () => Buffer.concat(printed).toString();
  // "close", not "exit": by then everything it printed has been read.
  const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      printed.push(chunk);
      if (/ready: deployment/.test(output())) resolve();
    });
    void exited.then((code) => reject(new Error(`convex-local ${args[0]} exited before it was ready (code ${code}):\n${output()}`)));
  });
  return { process: child, exited, output };
}

async function stop(child: Child): Promise<void> {
  child.process.kill("SIGTERM");
  await child.exited;
}

function withoutConvexVariables(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("CONVEX_")) delete env[name];
  return env;
}

describe("the data directory of a running server", () => {
  it("is owner-only, and so are the database, its -wal and -shm files, and admin_key", () => {
    expect(modeOf(target.dataDir).toString(8)).toBe("700");
    for (const file of [...DATABASE_FILES, "admin_key"]) expect([file, modeOf(path.join(target.dataDir, file)).toString(8)]).toEqual([file, "600"]);
  });
});

describe("convex-local start without --admin-key", () => {
  const dataDir = path.join(scratch, "data");

  it("prints where the generated key is, never the key, and `admin-key` prints it", async () => {
    const server = await startBin(["start", "--port", "0", "--site-port", "0", "--data", dataDir]);
    // Whatever it prints right after `ready` counts too.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stop(server);
    const adminKey = readFileSync(path.join(dataDir, "admin_key"), "utf8").trim();
    expect(adminKey).toMatch(/^convex-local\|[0-9a-f]{64}$/);
    const printed = server.output();
    expect(printed).not.toContain(adminKey);
    // Not even its random part.
    expect(printed).not.toContain(adminKey.slice("convex-local|".length, "convex-local|".length + 16));
    expect(printed).toContain(path.join(dataDir, "admin_key"));
    expect(printed).toContain(`convex-local admin-key --data ${dataDir}`);
    const { stdout } = await promisify(execFile)(process.execPath, [bin, "admin-key", "--data", dataDir]);
    expect(stdout).toBe(`${adminKey}\n`);
  });

  it("makes a data directory an older version left readable by others owner-only again", async () => {
    chmodSync(dataDir, 0o755);
    for (const file of ["convex.sqlite3", "admin_key"]) chmodSync(path.join(dataDir, file), 0o644);
    const server = await startBin(["start", "--port", "0", "--site-port", "0", "--data", dataDir]);
    try {
      expect(modeOf(dataDir).toString(8)).toBe("700");
      for (const file of [...DATABASE_FILES, "admin_key"]) expect([file, modeOf(path.join(dataDir, file)).toString(8)]).toEqual([file, "600"]);
    } finally {
      await stop(server);
    }
  });

  it("leaves a --data directory that also holds other things as it is, and says so; the secrets are still 0600", async () => {
    const shared = path.join(scratch, "shared-folder");
    mkdirSync(shared);
    writeFileSync(path.join(shared, "package.json"), "{}");
    chmodSync(shared, 0o755);
    const server = await startBin(["start", "--port", "0", "--site-port", "0", "--data", shared]);
    try {
      expect(modeOf(shared).toString(8)).toBe("755");
      expect(server.output()).toContain("also holds files that are not the deployment's, so its permissions were left as they are");
      for (const file of [...DATABASE_FILES, "admin_key"]) expect([file, modeOf(path.join(shared, file)).toString(8)]).toEqual([file, "600"]);
    } finally {
      await stop(server);
    }
  });

  it("refuses `admin-key` for a directory that holds none", async () => {
    const empty = path.join(scratch, "empty");
    mkdirSync(empty);
    const failed = await promisify(execFile)(process.execPath, [bin, "admin-key", "--data", empty]).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringContaining("holds no admin key") });
  });
});

describe("convex-local dev", () => {
  it("writes .env.local owner-only, an existing world-readable one too, keeping its other lines", async () => {
    const appDir = path.join(scratch, "app");
    cpSync(path.join(repoRoot, "packages/convex-local/test/fixtures/security"), appDir, { recursive: true });
    symlinkSync(path.join(repoRoot, "node_modules"), path.join(appDir, "node_modules"), "dir");
    const envFile = path.join(appDir, ".env.local");
    writeFileSync(envFile, "OTHER=kept\n", { mode: 0o644 });
    chmodSync(envFile, 0o644);
    const dev = await startBin(["dev", "--once", "--port", "0", "--site-port", "0", "--data", path.join(appDir, ".convex-local")], appDir);
    expect(await dev.exited, dev.output()).toBe(0);
    expect(modeOf(envFile).toString(8)).toBe("600");
    const written = readFileSync(envFile, "utf8");
    expect(written).toMatch(/^OTHER=kept\n/);
    expect(written).toMatch(/CONVEX_SELF_HOSTED_ADMIN_KEY=convex-local\|/);
    expect(dev.output()).not.toContain(/CONVEX_SELF_HOSTED_ADMIN_KEY=(\S+)/.exec(written)![1]);
  }, 180_000);
});
