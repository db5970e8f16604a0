/**
 * A throwaway PostgreSQL for the Auth.js pg-adapter baseline: `initdb` into a temp dir, `postgres`
 * on a loopback port (as the `postgres` user when the bench runs as root, since PostgreSQL refuses
 * root), the Auth.js schema, and removal at the end.
 */
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { progress, startChild } from "./lib.mjs";

const isRoot = process.getuid?.() === 0;

/** The directory holding `initdb` and `postgres`, installing Debian's `postgresql` when run as root. */
function postgresBinDir() {
  const found = findBinDir();
  if (found !== undefined) return found;
  if (!isRoot) {
    throw new Error("PostgreSQL is not installed: install Debian's `postgresql` package (sudo apt-get install -y postgresql) and run the bench again.");
  }
  progress("PostgreSQL is not installed: running apt-get install -y postgresql");
  execFileSync("apt-get", ["install", "-y", "-q", "postgresql"], { stdio: ["ignore", process.stderr, process.stderr], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  const installed = findBinDir();
  if (installed === undefined) throw new Error("apt-get installed postgresql but no initdb was found under /usr/lib/postgresql");
  return installed;
}

function findBinDir() {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, "bin/initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions.length === 0 ? undefined : path.join(root, versions[0], "bin");
}

/** Runs a PostgreSQL binary as an unprivileged user: `postgres` when we are root. */
function asDatabaseUser(binary, args) {
  return isRoot ? ["runuser", ["-u", "postgres", "--", binary, ...args]] : [binary, args];
}

const SCHEMA = `
CREATE TABLE users (
  id SERIAL PRIMARY KEY,
  name VARCHAR(255),
  email VARCHAR(255),
  "emailVerified" TIMESTAMPTZ,
  image TEXT
);
CREATE TABLE accounts (
  id SERIAL PRIMARY KEY,
  "userId" INTEGER NOT NULL,
  type VARCHAR(255) NOT NULL,
  provider VARCHAR(255) NOT NULL,
  "providerAccountId" VARCHAR(255) NOT NULL,
  refresh_token TEXT,
  access_token TEXT,
  expires_at BIGINT,
  id_token TEXT,
  scope TEXT,
  session_state TEXT,
  token_type TEXT
);
CREATE TABLE sessions (
  id SERIAL PRIMARY KEY,
  "userId" INTEGER NOT NULL,
  expires TIMESTAMPTZ NOT NULL,
  "sessionToken" VARCHAR(255) NOT NULL
);
CREATE TABLE verification_token (
  identifier TEXT NOT NULL,
  expires TIMESTAMPTZ NOT NULL,
  token TEXT NOT NULL,
  PRIMARY KEY (identifier, token)
);
-- Not in the Auth.js docs' schema, but any real deployment has it: the session lookup is by token.
CREATE UNIQUE INDEX sessions_by_token ON sessions ("sessionToken");
`;

/** Starts PostgreSQL on 127.0.0.1:`port` with the Auth.js schema; returns its connection settings and `stop()`. */
export async function startPostgres(port) {
  const bin = postgresBinDir();
  const dir = mkdtempSync(path.join(tmpdir(), "convex-bench-pg-"));
  const dataDir = path.join(dir, "data");
  if (isRoot) chownSync(dir, Number(execFileSync("id", ["-u", "postgres"]).toString()), Number(execFileSync("id", ["-g", "postgres"]).toString()));
  const [initCommand, initArgs] = asDatabaseUser(path.join(bin, "initdb"), ["-D", dataDir, "-U", "bench", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  execFileSync(initCommand, initArgs, { stdio: ["ignore", "ignore", process.stderr] });
  const [command, args] = asDatabaseUser(path.join(bin, "postgres"), ["-D", dataDir, "-h", "127.0.0.1", "-p", String(port), "-k", dir]);
  const { child } = await startChild(command, args, { readyPattern: /ready to accept connections/ });
  // The postmaster's pid, not runuser's: signals go to the server itself.
  const postmasterPid = Number(readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  // If the bench dies before stop(), take the server and its files with it.
  const onExit = () => {
    try {
      process.kill(postmasterPid, "SIGQUIT");
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);
  return {
    connection: { host: "127.0.0.1", port, user: "bench", database: "postgres" },
    schema: SCHEMA,
    async stop() {
      process.off("exit", onExit);
      // A fast shutdown (SIGINT): clients are disconnected, then the server exits.
      await new Promise((resolve) => {
        child.once("exit", resolve);
        process.kill(postmasterPid, "SIGINT");
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
