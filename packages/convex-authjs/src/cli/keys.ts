import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { Env } from "../shared/protocol.js";
import {
  generateSigningKeyPair,
  parseJwks,
  rotateJwks,
  SIGNING_ALGORITHMS,
  type Jwks,
  type SigningAlgorithm,
} from "../jwt/keys.js";
import { ConvexEnv } from "./convexEnv.js";
import { quoteForEnvFile, setEnvFileVariable } from "./envFile.js";
import { UsageError } from "./errors.js";

export const KEYS_HELP = `Usage: convex-authjs keys [options] [-- <convex env options>]

Generates the key pair that signs Convex tokens for Auth.js sessions:
CONVEX_AUTH_PRIVATE_KEY (PKCS#8 PEM, for the Next.js server) and JWKS (the
public key set, for the Convex deployment). The key ID is the RFC 7638
thumbprint of the public key.

Without --set, prints both as env-file lines.

Options:
  --alg <RS256|ES256>     signing algorithm (default RS256)
  --set                   set JWKS on the Convex deployment with \`convex env set\`
                          and write CONVEX_AUTH_PRIVATE_KEY to --env-file
  --env-file <path>       env file of the Next.js app (default .env.local)
  --rotate                keep the current public key(s) in the new JWKS, so
                          tokens signed before the rotation stay valid
  --current-jwks <value>  the current JWKS for --rotate: JSON, or @file to read
                          it from a file (default: $JWKS, else with --set the
                          deployment's)
  --keep <n>              previous keys kept by --rotate (default 1)
  -h, --help              show this help

Arguments after -- go to \`convex env\`, e.g. -- --prod. The deployment is the
one the convex CLI selects: CONVEX_DEPLOYMENT for Convex cloud, or
CONVEX_SELF_HOSTED_URL and CONVEX_SELF_HOSTED_ADMIN_KEY for a self-hosted
backend or convex-local.
`;

export interface KeysOptions {
  alg: SigningAlgorithm;
  set: boolean;
  envFile: string;
  rotate: boolean;
  currentJwks?: string;
  keep: number;
  convexArgs: string[];
  help: boolean;
}

export function parseKeysArgs(argv: string[]): KeysOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      tokens: true,
      options: {
        alg: { type: "string", default: "RS256" },
        set: { type: "boolean", default: false },
        "env-file": { type: "string", default: ".env.local" },
        rotate: { type: "boolean", default: false },
        "current-jwks": { type: "string" },
        keep: { type: "string", default: "1" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, tokens } = parsed;
  const terminator = tokens.findIndex((token) => token.kind === "option-terminator");
  const stray = parsed.positionals.slice(
    0,
    terminator === -1 ? undefined : tokens.slice(0, terminator).filter((t) => t.kind === "positional").length,
  );
  if (stray.length > 0) throw new UsageError(`Unexpected argument "${stray[0]}".`);
  const alg = values.alg.toUpperCase();
  if (!SIGNING_ALGORITHMS.includes(alg as SigningAlgorithm)) {
    throw new UsageError(`--alg must be one of ${SIGNING_ALGORITHMS.join(", ")}; got "${values.alg}".`);
  }
  const keep = Number(values.keep);
  if (!Number.isInteger(keep) || keep < 0) {
    throw new UsageError(`--keep must be a whole number; got "${values.keep}".`);
  }
  if (values["current-jwks"] !== undefined && !values.rotate) {
    throw new UsageError("--current-jwks only applies with --rotate.");
  }
  const convexArgs = terminator === -1 ? [] : parsed.positionals.slice(stray.length);
  if (convexArgs.length > 0 && !values.set) throw new UsageError("Arguments after -- only apply with --set.");
  return {
    alg: alg as SigningAlgorithm,
    set: values.set,
    envFile: values["env-file"],
    rotate: values.rotate,
    currentJwks: values["current-jwks"],
    keep,
    convexArgs,
    help: values.help,
  };
}

function currentJwks(options: KeysOptions, cwd: string, convexEnv: () => ConvexEnv): Jwks {
  const given = options.currentJwks ?? process.env[Env.jwks];
  if (given !== undefined && given.trim() !== "") {
    const text = given.startsWith("@") ? readFileSync(resolve(cwd, given.slice(1)), "utf8") : given;
    return parseJwks(text);
  }
  if (!options.set) {
    throw new UsageError("--rotate needs the current JWKS: pass --current-jwks, set $JWKS, or use --set.");
  }
  const deployed = convexEnv().get(Env.jwks);
  if (deployed === undefined) {
    throw new UsageError("--rotate: the deployment has no JWKS to keep; run without --rotate.");
  }
  return parseJwks(deployed);
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export async function runKeys(argv: string[], io: Output, cwd = process.cwd()): Promise<void> {
  const options = parseKeysArgs(argv);
  if (options.help) {
    io.out(KEYS_HELP);
    return;
  }
  let env: ConvexEnv | undefined;
  const convexEnv = () => (env ??= new ConvexEnv(cwd, options.convexArgs));

  const previous = options.rotate ? currentJwks(options, cwd, convexEnv) : undefined;
  const { privateKeyPem, publicJwk } = await generateSigningKeyPair(options.alg);
  const jwks = JSON.stringify(rotateJwks(publicJwk, previous, options.keep));

  if (!options.set) {
    io.out(`${Env.privateKey}=${quoteForEnvFile(privateKeyPem)}\n`);
    // Single quotes: literal in dotenv and POSIX shells alike, and JWKS JSON has none.
    io.out(`${Env.jwks}='${jwks}'\n`);
    return;
  }
  // The public key goes out first: tokens signed with the new private key
  // must never meet a JWKS that lacks it.
  convexEnv().set(Env.jwks, jwks);
  io.err(`Set ${Env.jwks} on the Convex deployment (kid ${publicJwk.kid}).\n`);
  const envFile = resolve(cwd, options.envFile);
  setEnvFileVariable(envFile, Env.privateKey, quoteForEnvFile(privateKeyPem));
  io.err(`Wrote ${Env.privateKey} to ${options.envFile}. Restart the Next.js server to use it.\n`);
}
