/**
 * The `convex-authjs` command line.
 *
 * @example
 * ```sh
 * npx convex-authjs keys                 # print CONVEX_AUTH_PRIVATE_KEY and JWKS
 * npx convex-authjs keys --alg ES256 --set
 * npx convex-authjs keys --set --rotate  # new key; the old one stays in JWKS
 * ```
 *
 * @module
 */
import { ConvexCliError, UsageError } from "./errors.js";
import { KEYS_HELP, runKeys, type Output } from "./keys.js";
import { InvalidJwksError } from "../jwt/errors.js";

export const HELP = `Usage: convex-authjs <command> [options]

Commands:
  keys    generate the Convex token signing key pair and JWKS (see keys --help)

Options:
  -h, --help   show this help
`;

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs the CLI and returns its exit code: 0 done, 1 failed, 2 usage error. */
export async function main(argv: string[], io: Output = processOutput, cwd?: string): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === "-h" || command === "--help" || command === "help") {
      io.out(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command !== "keys") throw new UsageError(`Unknown command "${command}".`);
    await runKeys(rest, io, cwd);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`convex-authjs: ${error.message}\n\n${command === "keys" ? KEYS_HELP : HELP}`);
      return 2;
    }
    if (error instanceof ConvexCliError || error instanceof InvalidJwksError) {
      io.err(`convex-authjs: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

export { ConvexCliError, UsageError } from "./errors.js";
