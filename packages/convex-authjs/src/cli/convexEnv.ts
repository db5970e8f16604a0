import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ConvexCliError } from "./errors.js";

/**
 * Runs the app's own `convex` CLI (`npx convex env ...`), found from the
 * working directory. The CLI picks the deployment from the environment and
 * `.env.local` as usual: `CONVEX_DEPLOYMENT` for Convex cloud,
 * `CONVEX_SELF_HOSTED_URL` + `CONVEX_SELF_HOSTED_ADMIN_KEY` for a self-hosted
 * backend or convex-local. `extraArgs` (after `--` on our command line) pass
 * through, e.g. `--prod`.
 */
export class ConvexEnv {
  private readonly bin: string;

  constructor(
    private readonly cwd: string,
    private readonly extraArgs: string[],
  ) {
    let packageJson: string;
    try {
      packageJson = createRequire(join(cwd, "package.json")).resolve("convex/package.json");
    } catch {
      throw new ConvexCliError(
        `The convex package is not installed in ${cwd}; run this in your app's folder (npm install convex).`,
      );
    }
    const { bin } = JSON.parse(readFileSync(packageJson, "utf8")) as { bin: Record<string, string> };
    this.bin = join(dirname(packageJson), bin.convex);
  }

  private run(args: string[]) {
    return spawnSync(process.execPath, [this.bin, "env", ...args, ...this.extraArgs], {
      cwd: this.cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** The variable's value, or undefined when it is not set. */
  get(name: string): string | undefined {
    const result = this.run(["get", name]);
    if (result.status !== 0) {
      throw new ConvexCliError(`\`convex env get ${name}\` failed: ${result.stderr.trim() || result.error?.message}`);
    }
    const value = result.stdout.trim();
    return value === "" ? undefined : value;
  }

  set(name: string, value: string): void {
    const result = this.run(["set", name, value]);
    if (result.status !== 0) {
      // stderr only: the convex CLI does not echo values there.
      throw new ConvexCliError(`\`convex env set ${name}\` failed: ${result.stderr.trim() || result.error?.message}`);
    }
  }
}
