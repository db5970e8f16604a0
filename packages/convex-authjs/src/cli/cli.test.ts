import { loadEnvConfig } from "@next/env";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLocalJWKSet, exportJWK, jwtVerify } from "jose";
import { describe, expect, test } from "vitest";
import { createConvexTokenMinter, generateSigningKeyPair, importSigningKey, keyIdOf } from "../jwt/index.js";

const BIN = join(import.meta.dirname, "../../bin/convex-authjs.js");
const run = promisify(execFile);

/** Runs the built bin in `cwd` with only the given variables from the caller's environment. */
async function cli(args: string[], cwd: string, env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", ...env } as unknown as NodeJS.ProcessEnv,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/**
 * An app folder whose `convex` package is a stand-in CLI: it records each
 * invocation and keeps env variables in a JSON file, like a deployment would.
 */
function appFolder(deploymentEnv: Record<string, string> = {}, failSet = false) {
  const dir = mkdtempSync(join(tmpdir(), "convex-authjs-cli-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", dependencies: { convex: "*" } }));
  const convexDir = join(dir, "node_modules/convex");
  mkdirSync(join(convexDir, "bin"), { recursive: true });
  writeFileSync(join(convexDir, "package.json"), JSON.stringify({ name: "convex", bin: { convex: "bin/main.js" } }));
  writeFileSync(join(dir, "deployment-env.json"), JSON.stringify(deploymentEnv));
  writeFileSync(
    join(convexDir, "bin/main.js"),
    `const fs = require("fs");
const args = process.argv.slice(2);
fs.appendFileSync("calls.jsonl", JSON.stringify(args) + "\\n");
const env = JSON.parse(fs.readFileSync("deployment-env.json", "utf8"));
if (args[1] === "get") {
  if (env[args[2]] === undefined) console.error('Environment variable "' + args[2] + '" not found');
  else console.log(env[args[2]]);
} else if (args[1] === "set") {
  if (${failSet}) { console.error("deployment unreachable"); process.exit(1); }
  env[args[2]] = args[3];
  fs.writeFileSync("deployment-env.json", JSON.stringify(env));
}
`,
  );
  return {
    dir,
    calls: () =>
      existsSync(join(dir, "calls.jsonl"))
        ? readFileSync(join(dir, "calls.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line))
        : [],
    deploymentEnv: () => JSON.parse(readFileSync(join(dir, "deployment-env.json"), "utf8")),
  };
}

/** Reads the app's env files the way `next dev` does. */
function nextEnv(dir: string): Record<string, string | undefined> {
  const before = { ...process.env };
  // Under NODE_ENV=test (as in vitest) Next.js skips .env.local.
  (process.env as Record<string, string>).NODE_ENV = "development";
  try {
    return loadEnvConfig(dir, true, { info: () => {}, error: () => {} }, true).parsedEnv ?? {};
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in before)) delete process.env[key];
    Object.assign(process.env, before);
  }
}

async function expectWorkingPair(privateKeyPem: string, jwksText: string, alg: "RS256" | "ES256") {
  const jwks = JSON.parse(jwksText);
  const imported = await importSigningKey(privateKeyPem);
  expect(imported.alg).toBe(alg);
  const [newest] = jwks.keys;
  expect(newest).toMatchObject({ alg, use: "sig", kid: imported.kid });
  expect(newest.kid).toBe(await keyIdOf(await exportJWK(imported.key)));
  expect(newest).not.toHaveProperty("d");
  const token = await createConvexTokenMinter({ privateKey: privateKeyPem, issuer: "https://x.convex.site" }).tokenFor("u");
  await expect(jwtVerify(token, createLocalJWKSet(jwks))).resolves.toBeDefined();
  return jwks;
}

describe("convex-authjs keys (printing)", () => {
  test("prints env-file lines that Next.js reads back into a working key pair", async () => {
    const { dir } = appFolder();
    const { code, stdout } = await cli(["keys"], dir);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^CONVEX_AUTH_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\\n.*"\nJWKS='\{"keys":\[.*\]\}'\n$/);
    writeFileSync(join(dir, ".env"), stdout);
    const env = nextEnv(dir);
    expect(env.CONVEX_AUTH_PRIVATE_KEY).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n?$/);
    const jwks = await expectWorkingPair(env.CONVEX_AUTH_PRIVATE_KEY!, env.JWKS!, "RS256");
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0].kty).toBe("RSA");
  });

  test("--alg ES256 makes a P-256 key", async () => {
    const { dir } = appFolder();
    const { code, stdout } = await cli(["keys", "--alg", "ES256"], dir);
    expect(code).toBe(0);
    writeFileSync(join(dir, ".env"), stdout);
    const env = nextEnv(dir);
    const jwks = await expectWorkingPair(env.CONVEX_AUTH_PRIVATE_KEY!, env.JWKS!, "ES256");
    expect(jwks.keys[0]).toMatchObject({ kty: "EC", crv: "P-256" });
  });

  test("--rotate keeps the current public key after the new one", async () => {
    const { dir } = appFolder();
    const old = await generateSigningKeyPair("RS256");
    const older = await generateSigningKeyPair("ES256");
    writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [old.publicJwk, older.publicJwk] }));

    const fromFile = await cli(["keys", "--rotate", "--current-jwks", "@jwks.json"], dir);
    expect(fromFile.code).toBe(0);
    writeFileSync(join(dir, ".env"), fromFile.stdout);
    const env = nextEnv(dir);
    const jwks = await expectWorkingPair(env.CONVEX_AUTH_PRIVATE_KEY!, env.JWKS!, "RS256");
    expect(jwks.keys.slice(1)).toEqual([old.publicJwk]);

    // The old key still verifies its tokens against the rotated set.
    const oldToken = await createConvexTokenMinter({ privateKey: old.privateKeyPem, issuer: "https://x" }).tokenFor("u");
    await expect(jwtVerify(oldToken, createLocalJWKSet(jwks))).resolves.toBeDefined();

    const fromEnv = await cli(["keys", "--rotate", "--keep", "2"], dir, {
      JWKS: JSON.stringify({ keys: [old.publicJwk, older.publicJwk] }),
    });
    expect(fromEnv.code).toBe(0);
    const keptTwo = JSON.parse(/^JWKS='(.*)'$/m.exec(fromEnv.stdout)![1]);
    expect(keptTwo.keys.map((key: { kid: string }) => key.kid).slice(1)).toEqual([old.publicJwk.kid, older.publicJwk.kid]);
  });

  test("--help explains the command", async () => {
    const { stdout, code } = await cli(["keys", "--help"], appFolder().dir);
    expect(code).toBe(0);
    expect(stdout).toContain("Usage: convex-authjs keys");
    expect(stdout).toContain("--rotate");
  });
});

describe("convex-authjs keys --set", () => {
  test("sets JWKS on the deployment and the private key in .env.local, keeping other lines", async () => {
    const app = appFolder();
    writeFileSync(
      join(app.dir, ".env.local"),
      'AUTH_SECRET=keep-me\nCONVEX_AUTH_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\nOLD\n-----END PRIVATE KEY-----"\nNEXT_PUBLIC_CONVEX_URL=http://127.0.0.1:3210\n',
    );
    const { code, stdout, stderr } = await cli(["keys", "--set", "--", "--prod"], app.dir);
    expect(code).toBe(0);
    expect(stdout).toBe(""); // the private key is never printed with --set
    expect(stderr).toContain("Wrote CONVEX_AUTH_PRIVATE_KEY to .env.local");

    const [call] = app.calls();
    expect(call.slice(0, 3)).toEqual(["env", "set", "JWKS"]);
    expect(call.at(-1)).toBe("--prod");
    const env = nextEnv(app.dir);
    expect(env.AUTH_SECRET).toBe("keep-me");
    expect(env.NEXT_PUBLIC_CONVEX_URL).toBe("http://127.0.0.1:3210");
    expect(readFileSync(join(app.dir, ".env.local"), "utf8")).not.toContain("OLD");
    await expectWorkingPair(env.CONVEX_AUTH_PRIVATE_KEY!, app.deploymentEnv().JWKS, "RS256");
  });

  test("--set --rotate keeps the deployment's current key", async () => {
    const old = await generateSigningKeyPair("RS256");
    const app = appFolder({ JWKS: JSON.stringify({ keys: [old.publicJwk] }) });
    const { code } = await cli(["keys", "--set", "--rotate"], app.dir);
    expect(code).toBe(0);
    expect(app.calls().map((args: string[]) => args.slice(0, 3))).toEqual([
      ["env", "get", "JWKS"],
      ["env", "set", "JWKS"],
    ]);
    const jwks = await expectWorkingPair(nextEnv(app.dir).CONVEX_AUTH_PRIVATE_KEY!, app.deploymentEnv().JWKS, "RS256");
    expect(jwks.keys[1]).toEqual(old.publicJwk);
  });

  test("when the deployment refuses JWKS, the env file is left alone", async () => {
    const app = appFolder({}, true);
    writeFileSync(join(app.dir, ".env.local"), "AUTH_SECRET=x\n");
    const { code, stderr } = await cli(["keys", "--set", "--env-file", ".env.local"], app.dir);
    expect(code).toBe(1);
    expect(stderr).toContain("deployment unreachable");
    expect(readFileSync(join(app.dir, ".env.local"), "utf8")).toBe("AUTH_SECRET=x\n");
  });

  test("--set --rotate with no JWKS on the deployment refuses to drop keys silently", async () => {
    const app = appFolder();
    const { code, stderr } = await cli(["keys", "--set", "--rotate"], app.dir);
    expect(code).toBe(2);
    expect(stderr).toContain("no JWKS");
    expect(existsSync(join(app.dir, ".env.local"))).toBe(false);
  });
});

describe("convex-authjs usage errors", () => {
  test.each([
    [["keys", "--bogus"], /Unknown option '--bogus'/],
    [["keys", "--alg", "HS256"], /--alg must be one of RS256, ES256/],
    [["keys", "--alg"], /argument missing/],
    [["keys", "--keep", "-1", "--rotate"], /--keep/],
    [["keys", "--rotate"], /--rotate needs the current JWKS/],
    [["keys", "--current-jwks", "{}"], /only applies with --rotate/],
    [["keys", "extra"], /Unexpected argument "extra"/],
    [["keys", "--", "--prod"], /only apply with --set/],
    [["rotate"], /Unknown command "rotate"/],
  ])("%j exits 2 with a clear message", async (args, message) => {
    const { code, stderr, stdout } = await cli(args, appFolder().dir);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain("Usage: convex-authjs");
    expect(stdout).toBe("");
  });

  test("a malformed current JWKS exits 1", async () => {
    const { code, stderr } = await cli(["keys", "--rotate", "--current-jwks", "{nope"], appFolder().dir);
    expect(code).toBe(1);
    expect(stderr).toContain("not valid JSON");
  });

  test("no command prints the help and exits 2", async () => {
    const { code, stdout } = await cli([], appFolder().dir);
    expect(code).toBe(2);
    expect(stdout).toContain("Commands:");
  });
});
