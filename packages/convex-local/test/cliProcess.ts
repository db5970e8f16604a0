/**
 * The official CLI as a long-running subprocess against a test deployment — `npx convex logs`,
 * `npx convex run --watch`, `npx convex mcp start` — with its output collected as it comes.
 *
 *   const logs = startCli(deployment, ["logs"]);
 *   await logs.waitForOutput((stdout) => stdout.includes("[LOG]"));
 *   await logs.stop();
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { cleanEnv, convexCli, type TestDeployment } from "./harness.js";

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once `done(stdout)` holds; rejects when the process ends first or after `timeoutMs`. */
  waitForOutput(done: (stdout: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Ends the process (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/** `environment`: more variables for the process (the MCP server's stand-in for Convex's login service). */
export function startCli(deployment: TestDeployment, args: string[], environment: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [convexCli, ...args], {
    cwd: deployment.appDir,
    env: { ...cleanEnv(), CONVEX_SELF_HOSTED_URL: deployment.backend.url, CONVEX_SELF_HOSTED_ADMIN_KEY: deployment.backend.adminKey, ...environment },
  });
  let stdout = "";
  let stderr = "";
  const changed = new Set<() => void>();
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
    for (const listener of changed) listener();
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForOutput(done, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done(stdout)) return;
          finish();
          resolve(stdout);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no such output after ${timeoutMs} ms; stdout: ${stdout}\nstderr: ${stderr}`));
        }, timeoutMs);
        const onExit = () => {
          finish();
          reject(new Error(`the CLI exited (${child.exitCode}); stdout: ${stdout}\nstderr: ${stderr}`));
        };
        const finish = () => {
          clearTimeout(timer);
          changed.delete(check);
          child.off("exit", onExit);
        };
        changed.add(check);
        child.once("exit", onExit);
        check();
        if (child.exitCode !== null || child.signalCode !== null) onExit(); // ended before this wait began (a no-op if the output was there)
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
