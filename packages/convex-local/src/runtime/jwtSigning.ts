/**
 * `ctx.auth.signJwt` of `convex/server` (syscall `1.0/signJwt`, mutations only; in the package since
 * 1.48 at least): ES256 JWTs signed with the deployment's own key, which anyone can check against the
 * public key served at `<CONVEX_CLOUD_URL>/.well-known/jwks.json`. What it does follows the package's
 * documentation of `MutationAuth.signJwt` in its newest release, 1.51 (Convex's backend code for it
 * is not public; 1.48's documentation had `claims` optional and said nothing of `aud` or `jti`): the
 * caller gives `claims` (with `aud`) and `expiresInSeconds` (1 s to 1 hour); the deployment sets
 * `iss` (its `CONVEX_CLOUD_URL`, or `<CONVEX_CLOUD_URL>/components/<name>` in a component), `iat`,
 * `exp` and a random `jti` unless the caller gives a non-empty one; `iss`, `iat`, `exp`, `nbf` and
 * names starting with `convex` or `cvx` (any case) are refused. The refusals' texts are
 * convex-local's own.
 *
 * The key is made once per deployment and kept in the store, so tokens stay valid across restarts.
 * Signing is synchronous (node:crypto), as every syscall of a query or mutation is here.
 *
 * @example
 * DeploymentJwtSigner.prepare(storage); // at start, before workers open the store
 * const signer = DeploymentJwtSigner.open(storage); // in a worker
 * signer.sign({ claims: { aud: "my-service", sub: "user-1" }, expiresInSeconds: 300 }, "http://127.0.0.1:3210");
 * signer.jwks(); // { keys: [{ kty: "EC", crv: "P-256", x, y, kid, alg: "ES256", use: "sig" }] }
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type JsonWebKey, type KeyObject } from "node:crypto";
import { isJsonObject, type Storage } from "../storage/index.js";
import { truncateText } from "../text/valueText.js";

/** Where the store keeps the deployment's signing key (PKCS#8 PEM). */
const SIGNING_KEY_META = "deployment_jwt_signing_key";
const MAX_EXPIRES_IN_SECONDS = 60 * 60;
const RESERVED_CLAIMS = new Set(["iss", "iat", "exp", "nbf"]);
const RESERVED_PREFIX = /^(convex|cvx)/i;

/** A `signJwt` call Convex's documentation says is refused. */
export class SignJwtError extends Error {
  constructor(problem: string) {
    super(`ctx.auth.signJwt: ${problem}`);
    this.name = "SignJwtError";
  }
}

export class DeploymentJwtSigner {
  private readonly publicJwk: JsonWebKey & { kid: string };

  private constructor(private readonly privateKey: KeyObject) {
    const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: "jwk" });
    // RFC 7638 thumbprint: the required members, in lexicographic order, without spaces.
    const kid = createHash("sha256").update(JSON.stringify({ crv, kty, x, y })).digest("base64url");
    this.publicJwk = { kty, crv, x, y, kid, alg: "ES256", use: "sig" };
  }

  /** Makes the deployment's signing key if the store has none yet. */
  static prepare(storage: Storage): void {
    if (storage.getMeta<string>(SIGNING_KEY_META) !== undefined) return;
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    storage.setMeta(SIGNING_KEY_META, privateKey.export({ format: "pem", type: "pkcs8" }));
  }

  /** The signer of a store that `prepare` has prepared. */
  static open(storage: Storage): DeploymentJwtSigner {
    const pem = storage.getMeta<string>(SIGNING_KEY_META);
    if (pem === undefined) throw new Error("The deployment has no JWT signing key: DeploymentJwtSigner.prepare() must run first");
    return new DeploymentJwtSigner(createPrivateKey(pem));
  }

  /** The public key set to check the tokens against (`/.well-known/jwks.json`). */
  jwks(): { keys: JsonWebKey[] } {
    return { keys: [this.publicJwk] };
  }

  /** Signs the token `options` (the syscall's arguments) describe, issued by `issuer`, at the time `nowMs`. */
  sign(options: unknown, issuer: string, nowMs = Date.now()): string {
    const { claims, expiresInSeconds } = checkedOptions(options);
    const iat = Math.floor(nowMs / 1000);
    const jti = typeof claims.jti === "string" && claims.jti !== "" ? claims.jti : randomBytes(16).toString("base64url");
    const payload = { ...claims, iss: issuer, iat, exp: iat + Math.floor(expiresInSeconds), jti };
    const header = { alg: "ES256", typ: "JWT", kid: this.publicJwk.kid };
    const signingInput = `${base64url(header)}.${base64url(payload)}`;
    const signature = sign("sha256", Buffer.from(signingInput), { key: this.privateKey, dsaEncoding: "ieee-p1363" });
    return `${signingInput}.${signature.toString("base64url")}`;
  }
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function checkedOptions(options: unknown): { claims: Record<string, unknown>; expiresInSeconds: number } {
  if (!isJsonObject(options)) throw new SignJwtError("expected an object { claims, expiresInSeconds }");
  const { claims, expiresInSeconds } = options;
  if (typeof expiresInSeconds !== "number" || !Number.isFinite(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > MAX_EXPIRES_IN_SECONDS) {
    throw new SignJwtError(`expiresInSeconds must be a number from 1 to ${MAX_EXPIRES_IN_SECONDS} (1 hour), got ${truncateText(JSON.stringify(expiresInSeconds) ?? String(expiresInSeconds))}`);
  }
  if (claims === undefined) throw new SignJwtError('claims are required, with "aud" (convex 1.51 documents both as required)');
  if (!isJsonObject(claims)) throw new SignJwtError("claims must be an object");
  for (const name of Object.keys(claims)) {
    if (RESERVED_CLAIMS.has(name)) throw new SignJwtError(`the claim "${name}" is set by Convex and may not be given`);
    if (RESERVED_PREFIX.test(name)) throw new SignJwtError(`the claim "${truncateText(name)}" is reserved: names starting with "convex" or "cvx" may not be set`);
  }
  const { aud, jti } = claims;
  const validAudience = (typeof aud === "string" && aud !== "") || (Array.isArray(aud) && aud.length > 0 && aud.every((entry) => typeof entry === "string" && entry !== ""));
  if (!validAudience) throw new SignJwtError("the claim \"aud\" is required: a non-empty string or a non-empty array of non-empty strings");
  if (jti !== undefined && typeof jti !== "string") throw new SignJwtError("the claim \"jti\" must be a string");
  return { claims, expiresInSeconds };
}
