/**
 * The app and its Convex functions type-check against the built packages. Nothing else checks this:
 * `next dev` and the e2e deploy (`--typecheck disable`) run the code without its types, and a
 * helper whose context type no app's `QueryCtx` satisfied once went unnoticed that way.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";
import { expect, test } from "vitest";

const appDir = path.resolve(import.meta.dirname, "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

test.each(["tsconfig.json", "convex/tsconfig.json"])("tsc -p %s reports no errors", async (project) => {
  const result = await promisify(execFile)(process.execPath, [tsc, "--noEmit", "-p", project], { cwd: appDir }).then(
    () => ({ failed: false, output: "" }),
    (error: { stdout?: string; stderr?: string }) => ({ failed: true, output: `${error.stdout ?? ""}${error.stderr ?? ""}` }),
  );
  expect(result.output).toBe("");
  expect(result.failed).toBe(false);
}, 120_000);
