// Verifies the JWTs that clients send with `client.setAuth(...)` against the
// providers from `convex/auth.config.ts`, and builds the identity object that
// `ctx.auth.getUserIdentity()` returns, the way Convex's backend does.
//
// Convex reference (get-convex/convex-backend):
// - crates/authentication/src/lib.rs: provider routing, OIDC discovery,
//   custom-JWT JWKS fetching (URL or data: URI), iss/aud rules, error strings.
// - crates/common/src/auth.rs (`AuthInfo::matches_token`): a provider matches
//   when `aud` contains its applicationID (if any) and `iss` equals its
//   domain/issuer, ignoring trailing slashes and adding `https://` to an `iss`
//   without a scheme.
// - crates/keybroker/src/broker.rs (`UserIdentity::from_token`,
//   `from_custom_jwt`): claim mapping and custom-claim pass-through.
// - crates/convex/sync_types/src/types/json.rs (`UserIdentityAttributesJson`):
//   camelCase field names; custom claims flattened into the same object.
//
// Time checks: custom JWT providers use Convex's 5 s epsilon on `exp`, `nbf`
// and a future `iat`. OIDC providers check `exp` strictly (as Convex's OIDC
// verifier does) and `nbf` with the same 5 s epsilon (Convex's OIDC path
// ignores `nbf`; we are stricter). A future `iat` is accepted for OIDC, as in
// Convex.

import { base64url, compactVerify, importJWK, type JWK } from "jose";
import type { JSONValue } from "convex/values";
import type { AuthProvider } from "./functions.js";

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;
/** Largest discovery document / JWKS body we read. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Largest number of keys considered from one JWKS. */
const MAX_JWKS_KEYS = 100;
const DEFAULT_JWKS_CACHE_MS = 10 * 60 * 1000;
/** An unknown `kid` refetches the JWKS at most once per this interval. */
const DEFAULT_REFETCH_COOLDOWN_MS = 30 * 1000;
const FETCH_TIMEOUT_MS = 10 * 1000;
/** After a failed fetch, tokens for that provider are refused without refetching for this long. */
const FAILURE_BACKOFF_MS = 5 * 1000;
/** Convex's custom JWT validation epsilon (biscuit TemporalOptions). */
const CLOCK_TOLERANCE_S = 5;

/** Convex's OIDC verifier allows RS256 and EdDSA (Ed25519) only. */
const OIDC_ALGORITHMS = ["RS256", "EdDSA"] as const;
/** Convex's custom JWT `algorithm` accepts RS256 and ES256 only. */
const CUSTOM_JWT_ALGORITHMS = ["RS256", "ES256"] as const;

export type AuthErrorCode =
  | "InvalidAuthHeader"
  | "NoAuthProvider"
  | "Unauthenticated"
  | "AuthProviderDiscoveryFailed";

/** A refused token. `message` is Convex's wording, followed by the specific reason when Convex's text is generic. */
export class AuthError extends Error {
  readonly code: AuthErrorCode;
  /** The specific reason, when `message` alone is Convex's generic text. */
  readonly reason: string | undefined;
  constructor(code: AuthErrorCode, message: string, reason?: string) {
    super(reason === undefined ? message : `${message} Reason: ${reason}`);
    this.name = "AuthError";
    this.code = code;
    this.reason = reason;
  }
}

export interface IdentityVerifierOptions {
  fetch?: typeof fetch;
  /** Current time in ms since the epoch (tests inject a clock). */
  now?: () => number;
  /** How long a fetched discovery document / JWKS is trusted. Default 10 minutes. */
  jwksCacheMs?: number;
  /** Minimum interval between refetches caused by an unknown `kid`. Default min(30 s, jwksCacheMs). */
  refetchCooldownMs?: number;
}

export interface VerifiedIdentity {
  identity: Record<string, JSONValue>;
  /** The token's `exp`, in ms since the epoch. */
  expiresAtMs: number;
}

type OidcProvider = { applicationID: string; domain: string };
type CustomJwtProvider = Extract<AuthProvider, { type: "customJwt" }>;

interface KeySetEntry {
  keys: JWK[];
  fetchedAt: number;
  /** Imported keys, by index into `keys` and algorithm. */
  imported: Map<string, Promise<CryptoKey | Uint8Array>>;
  /** OIDC only: the `issuer` of the discovery document. */
  issuer?: string;
}

interface CacheSlot {
  entry: KeySetEntry | null;
  inflight: Promise<KeySetEntry> | null;
  lastFetchStartedAt: number | null;
  /** The last fetch failure, replayed (fail closed) for FAILURE_BACKOFF_MS instead of refetching per token. */
  lastError: { error: unknown; at: number } | null;
}

// ---------------------------------------------------------------------------
// Claim tables (openidconnect's IdTokenClaims + StandardClaims, Convex's drops)

/** Standard OIDC claims surfaced as typed identity fields (or consumed) in Convex's OIDC path. */
const OIDC_STRING_CLAIMS: [claim: string, field: string][] = [
  ["name", "name"],
  ["given_name", "givenName"],
  ["family_name", "familyName"],
  ["nickname", "nickname"],
  ["preferred_username", "preferredUsername"],
  ["profile", "profileUrl"],
  ["picture", "pictureUrl"],
  ["website", "websiteUrl"],
  ["email", "email"],
  ["gender", "gender"],
  ["birthdate", "birthday"],
  ["zoneinfo", "timezone"],
  ["locale", "language"],
  ["phone_number", "phoneNumber"],
];
const OIDC_BOOLEAN_CLAIMS: [claim: string, field: string][] = [
  ["email_verified", "emailVerified"],
  ["phone_number_verified", "phoneNumberVerified"],
];
/** Claims that may carry `#lang` variants (LocalizedClaim in openidconnect). */
const OIDC_LOCALIZED = new Set(["name", "given_name", "family_name", "middle_name", "nickname", "profile", "picture", "website"]);
/** Claims never passed through as custom claims on the OIDC path. */
const OIDC_NOT_CUSTOM = new Set([
  // IdTokenClaims fields
  "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
  // StandardClaims fields
  "sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
  "picture", "website", "email", "email_verified", "gender", "birthday", "birthdate", "zoneinfo", "locale",
  "phone_number", "phone_number_verified", "address", "updated_at",
  // Dropped by Convex (vary across refreshes)
  "jti", "nbf", "fva",
]);
/** RFC 7519 registered claims: not custom claims on the custom JWT path (biscuit RegisteredClaims). */
const REGISTERED_CLAIMS = new Set(["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]);
/** Identity fields that a custom claim may never overwrite. */
const PROTECTED_FIELDS = new Set(["tokenIdentifier", "subject", "issuer"]);

// ---------------------------------------------------------------------------

export class IdentityVerifier {
  private readonly providers: AuthProvider[];
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly cacheMs: number;
  private readonly cooldownMs: number;
  /** JWKS caches, keyed by URL (OIDC keyed by `oidc:` + domain). */
  private readonly cache = new Map<string, CacheSlot>();

  constructor(providers: AuthProvider[], options: IdentityVerifierOptions = {}) {
    this.providers = providers.slice();
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.now = options.now ?? Date.now;
    this.cacheMs = options.jwksCacheMs ?? DEFAULT_JWKS_CACHE_MS;
    this.cooldownMs = options.refetchCooldownMs ?? Math.min(DEFAULT_REFETCH_COOLDOWN_MS, this.cacheMs);
  }

  /** Verifies `token` and returns the identity exactly as `ctx.auth.getUserIdentity()` returns it. */
  async verify(token: string): Promise<Record<string, JSONValue>> {
    return (await this.verifyToken(token)).identity;
  }

  /** Like `verify`, also returning the token's expiry (for sessions that must drop the identity when it lapses). */
  async verifyToken(token: string): Promise<VerifiedIdentity> {
    const { header, payload } = parseUnverified(token);
    const issuer = payload.iss;
    if (typeof issuer !== "string") {
      throw new AuthError(
        "InvalidAuthHeader",
        "Missing issuer claim ('iss') in JWT payload. The JWT must include an 'iss' claim that matches one of your configured auth providers.",
      );
    }
    const audiences = audienceList(payload.aud);
    const provider = this.providers.find((p) => matchesToken(p, audiences, issuer));
    if (provider === undefined) {
      throw new AuthError("NoAuthProvider", noProviderMessage(this.providers));
    }
    if ("type" in provider && provider.type === "customJwt") {
      return this.verifyCustomJwt(token, header, provider);
    }
    return this.verifyOidc(token, header, issuer, provider as OidcProvider);
  }

  // ---- OIDC ---------------------------------------------------------------

  private async verifyOidc(token: string, header: Record<string, unknown>, tokenIssuer: string, provider: OidcProvider): Promise<VerifiedIdentity> {
    const generic = (reason: string) =>
      new AuthError(
        "Unauthenticated",
        "Could not verify OIDC token claim. Check that the token signature is valid and the token hasn't expired.",
        reason,
      );
    const domain = withProtocol(provider.domain).replace(/\/+$/, "");
    const cacheKey = `oidc:${domain}`;
    const loader = async (): Promise<KeySetEntry> => {
      const fail = (detail: string) => new AuthError("AuthProviderDiscoveryFailed", `Auth provider discovery of ${tokenIssuer} failed: ${detail}`);
      const url = `${domain}/.well-known/openid-configuration`;
      const body = await this.fetchJson(url, ["application/json"], (d) => fail(d), false);
      if (!isObject(body) || typeof body.issuer !== "string" || typeof body.jwks_uri !== "string") {
        throw fail("the discovery document has no 'issuer' or 'jwks_uri'");
      }
      if (body.issuer.replace(/\/+$/, "") !== domain) {
        throw fail(`unexpected issuer URI '${body.issuer}' (expected '${domain}')`);
      }
      const jwks = await this.fetchJwksBody(body.jwks_uri);
      return { ...jwks, issuer: body.issuer };
    };

    // Cheap checks before any network: algorithm, header shape.
    const alg = header.alg;
    if (typeof alg !== "string" || !(OIDC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw generic(
        `Signature verification failed: algorithm \`${String(alg)}\` is not one of: ${OIDC_ALGORITHMS.join(", ")}`,
      );
    }
    checkOidcHeader(header, generic);

    const { payload, entry } = await this.verifySignature(token, header, alg, cacheKey, loader, false, (reason) => generic(reason));
    const discoveredIssuer = entry.issuer ?? domain;

    // Claims (openidconnect's IdTokenVerifier, as configured by Convex).
    if (payload.iss !== discoveredIssuer) {
      throw generic(`Invalid issuer: expected \`${discoveredIssuer}\` (found \`${String(payload.iss)}\`)`);
    }
    const aud = audienceList(payload.aud);
    if (payload.aud === undefined) throw generic("Invalid audiences: missing audiences claim");
    if (!aud.includes(provider.applicationID)) {
      throw generic(`Invalid audiences: must contain \`${provider.applicationID}\` (found audiences: ${aud.map((a) => `\`${a}\``).join(", ")})`);
    }
    const untrusted = aud.find((a) => a !== provider.applicationID);
    if (untrusted !== undefined) throw generic(`Invalid audiences: \`${untrusted}\` is not a trusted audience`);
    if (typeof payload.exp !== "number" || !Number.isFinite(payload.exp)) throw parseError("missing or invalid 'exp'");
    if (typeof payload.iat !== "number" || !Number.isFinite(payload.iat)) throw parseError("missing or invalid 'iat'");
    const nowS = this.now() / 1000;
    if (nowS >= payload.exp) throw generic(`Expired: token expired at ${isoSeconds(payload.exp)}`);
    if (payload.nbf !== undefined) {
      if (typeof payload.nbf !== "number" || !Number.isFinite(payload.nbf)) throw parseError("invalid 'nbf'");
      if (payload.nbf - nowS > CLOCK_TOLERANCE_S) throw generic(`Token not yet valid (nbf ${isoSeconds(payload.nbf)})`);
    }
    if (typeof payload.sub !== "string") throw parseError("missing or invalid 'sub'");

    return { identity: oidcIdentity(payload), expiresAtMs: payload.exp * 1000 };
  }

  // ---- custom JWT ---------------------------------------------------------

  private async verifyCustomJwt(token: string, header: Record<string, unknown>, provider: CustomJwtProvider): Promise<VerifiedIdentity> {
    const kid = header.kid;
    const decodeError = () =>
      new AuthError(
        "InvalidAuthHeader",
        typeof kid === "string"
          ? `Could not decode token. The JWT's 'kid' (key ID) header is '${kid}', does this key match any key in the provider's JWKS?`
          : "Could not decode token. JWT may be missing a 'kid' (key ID) header.",
      );
    const algorithm = provider.algorithm;
    if (!(CUSTOM_JWT_ALGORITHMS as readonly string[]).includes(algorithm)) {
      throw new AuthError("InvalidAuthHeader", `Unsupported algorithm '${algorithm}' in auth.config.ts. Only RS256 and ES256 are supported.`);
    }
    if (header.alg !== algorithm) {
      throw new AuthError(decodeError().code, decodeError().message, `the JWT's 'alg' header is '${String(header.alg)}', expected '${algorithm}'`);
    }
    if (typeof kid !== "string") throw decodeError();

    const { payload } = await this.verifySignature(
      token,
      header,
      algorithm,
      `jwks:${provider.jwks}`,
      () => this.fetchJwksBody(provider.jwks),
      true,
      (reason) => new AuthError(decodeError().code, decodeError().message, reason),
    );

    const tokenIssuer = payload.iss;
    if (typeof tokenIssuer !== "string") {
      throw new AuthError(
        "InvalidAuthHeader",
        "Missing issuer claim ('iss') in JWT payload. The JWT must include an 'iss' claim that matches one of your configured auth providers.",
      );
    }
    if (withProtocol(tokenIssuer).replace(/\/+$/, "") !== withProtocol(provider.issuer).replace(/\/+$/, "")) {
      throw new AuthError("InvalidAuthHeader", `Invalid issuer: ${tokenIssuer} != ${provider.issuer}`);
    }
    if (provider.applicationID !== null && provider.applicationID !== undefined) {
      if (payload.aud === undefined) {
        throw new AuthError(
          "InvalidAuthHeader",
          "Missing audience claim ('aud') in JWT payload. The JWT must include an 'aud' claim that matches your configured application ID.",
        );
      }
      const aud = audienceList(payload.aud);
      if (!aud.includes(provider.applicationID)) {
        throw new AuthError("InvalidAuthHeader", `Invalid audience: ${provider.applicationID} not in [${aud.map((a) => JSON.stringify(a)).join(", ")}]`);
      }
    }
    // Temporal checks (biscuit ValidationOptions::default with a 5 s epsilon).
    const nowS = this.now() / 1000;
    const invalid = (why: string) => new AuthError("InvalidAuthHeader", `Could not validate token: ${why}`);
    for (const claim of ["exp", "nbf", "iat"] as const) {
      const v = payload[claim];
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v))) throw invalid(`'${claim}' is not a NumericDate`);
    }
    if (typeof payload.exp === "number" && nowS - payload.exp > CLOCK_TOLERANCE_S) throw invalid(`Token expired at ${isoSeconds(payload.exp)}`);
    if (typeof payload.nbf === "number" && payload.nbf - nowS > CLOCK_TOLERANCE_S) throw invalid(`Token not yet valid (nbf ${isoSeconds(payload.nbf)})`);
    if (typeof payload.iat === "number" && payload.iat - nowS > CLOCK_TOLERANCE_S) throw invalid(`Token not yet valid (iat ${isoSeconds(payload.iat)} is in the future)`);

    const claimError = (reason: string) =>
      new AuthError(
        "InvalidAuthHeader",
        "Could not verify token claim. Check that the JWT contains valid claims and matches your auth provider configuration.",
        reason,
      );
    if (typeof payload.sub !== "string") throw claimError("Missing subject");
    if (typeof payload.exp !== "number") throw claimError("Missing expiry");

    return { identity: customJwtIdentity(payload), expiresAtMs: payload.exp * 1000 };
  }

  // ---- keys ---------------------------------------------------------------

  /**
   * Verifies the signature with a key from the cached key set, refetching the
   * set when it is stale, or once (per cooldown) when no key matches `kid`.
   */
  private async verifySignature(
    token: string,
    header: Record<string, unknown>,
    alg: string,
    cacheKey: string,
    loader: () => Promise<KeySetEntry>,
    requireKid: boolean,
    fail: (reason: string) => AuthError,
  ): Promise<{ payload: Record<string, unknown>; entry: KeySetEntry }> {
    const kid = typeof header.kid === "string" ? header.kid : undefined;
    if (requireKid && kid === undefined) throw fail("the JWT has no 'kid' header");
    let entry = await this.keySet(cacheKey, loader, false);
    let candidates = eligibleKeys(entry.keys, kid, alg);
    if (candidates.length === 0 && kid !== undefined && this.mayRefetch(cacheKey)) {
      entry = await this.keySet(cacheKey, loader, true);
      candidates = eligibleKeys(entry.keys, kid, alg);
    }
    if (candidates.length === 0) {
      throw fail(kid === undefined ? "No matching key found" : `No matching key found for kid '${kid}'`);
    }
    if (candidates.length > 1) throw fail(`Ambiguous key identification: ${candidates.length} eligible keys`);
    const index = candidates[0];
    const importKey = `${index}:${alg}`;
    let keyPromise = entry.imported.get(importKey);
    if (keyPromise === undefined) {
      keyPromise = importJWK({ ...entry.keys[index], ext: true }, alg);
      entry.imported.set(importKey, keyPromise);
    }
    let key: CryptoKey | Uint8Array;
    try {
      key = await keyPromise;
    } catch (e) {
      entry.imported.delete(importKey);
      throw fail(`the JWKS key could not be imported: ${errorText(e)}`);
    }
    let result;
    try {
      result = await compactVerify(token, key, { algorithms: [alg] });
    } catch (e) {
      throw fail(`Signature verification failed: ${errorText(e)}`);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(result.payload));
    } catch {
      throw parseError("the payload is not JSON");
    }
    if (!isObject(payload)) throw parseError("the payload is not a JSON object");
    return { payload, entry };
  }

  private slot(cacheKey: string): CacheSlot {
    let slot = this.cache.get(cacheKey);
    if (slot === undefined) {
      slot = { entry: null, inflight: null, lastFetchStartedAt: null, lastError: null };
      this.cache.set(cacheKey, slot);
    }
    return slot;
  }

  private mayRefetch(cacheKey: string): boolean {
    const slot = this.slot(cacheKey);
    if (slot.inflight !== null) return true; // will join the running fetch
    return slot.lastFetchStartedAt === null || this.now() - slot.lastFetchStartedAt >= this.cooldownMs;
  }

  /** The cached key set, fetched when missing, stale, or `force`d. Concurrent callers share one fetch. */
  private async keySet(cacheKey: string, loader: () => Promise<KeySetEntry>, force: boolean): Promise<KeySetEntry> {
    const slot = this.slot(cacheKey);
    const fresh = slot.entry !== null && this.now() - slot.entry.fetchedAt < this.cacheMs;
    if (fresh && !force) return slot.entry!;
    if (slot.inflight === null && slot.lastError !== null && this.now() - slot.lastError.at < Math.min(FAILURE_BACKOFF_MS, this.cooldownMs)) {
      throw slot.lastError.error;
    }
    if (slot.inflight === null) {
      slot.lastFetchStartedAt = this.now();
      const p = loader().then(
        (entry) => {
          slot.entry = entry;
          slot.lastError = null;
          return entry;
        },
        (e: unknown) => {
          // Fail closed: a failed refresh drops the stale keys too.
          slot.entry = null;
          slot.lastError = { error: e, at: this.now() };
          throw e;
        },
      );
      slot.inflight = p;
      void p.then(
        () => (slot.inflight = null),
        () => (slot.inflight = null),
      );
    }
    return slot.inflight;
  }

  /** Fetches (or decodes a data: URI) and validates a JWKS. */
  private async fetchJwksBody(jwksUri: string): Promise<KeySetEntry> {
    let body: unknown;
    if (jwksUri.startsWith("data:")) {
      const text = decodeDataUrl(jwksUri);
      if (text === null) {
        throw new AuthError(
          "InvalidAuthHeader",
          "Invalid JWKS data URL. Check that the data URL is properly formatted and contains valid base64-encoded JSON.",
        );
      }
      body = parseJwksJson(text, jwksUri);
    } else {
      body = await this.fetchJson(
        jwksUri,
        ["application/json", "application/jwk-set+json"],
        (detail) => new AuthError("InvalidAuthHeader", detail),
        true,
      );
    }
    if (!isObject(body) || !Array.isArray(body.keys) || !body.keys.every(isObject)) {
      throw invalidJwks(jwksUri);
    }
    return { keys: (body.keys as JWK[]).slice(0, MAX_JWKS_KEYS), fetchedAt: this.now(), imported: new Map() };
  }

  /** GETs JSON with a timeout, a size cap, a status check and a Content-Type check. */
  private async fetchJson(url: string, mediaTypes: string[], fail: (detail: string) => AuthError, isJwks: boolean): Promise<unknown> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw fail(`Could not fetch JWKS from URL '${url}': invalid URL. Check that the URL is correct and accessible.`);
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
      throw fail(`Could not fetch JWKS from URL '${url}': unsupported scheme. Check that the URL is correct and accessible.`);
    }
    const what = isJwks ? "JWKS" : "discovery document";
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(url, {
        method: "GET",
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (response.status !== 200) {
        void response.body?.cancel().catch(() => {});
        throw fail(
          isJwks
            ? `Could not fetch JWKS from URL '${url}': HTTP ${response.status} ${response.statusText || "Unknown"}. Check that the URL is correct and accessible.`
            : `${response.status} ${response.statusText || "Unknown"}`,
        );
      }
      const contentType = response.headers.get("content-type");
      if (!contentTypeAllowed(contentType, mediaTypes)) {
        void response.body?.cancel().catch(() => {});
        throw fail(
          isJwks
            ? `Invalid Content-Type '${contentType ?? "unknown"}' when fetching JWKS from '${url}'. Expected 'application/json' or 'application/jwk-set+json'.`
            : `unexpected Content-Type '${contentType ?? "unknown"}' for the discovery document`,
        );
      }
      text = await readLimited(response, MAX_RESPONSE_BYTES);
    } catch (e) {
      if (e instanceof AuthError) throw e;
      throw fail(
        isJwks
          ? `Could not fetch JWKS from URL '${url}': ${errorText(e)}. Check that the URL is correct and accessible.`
          : `could not fetch the ${what}: ${errorText(e)}`,
      );
    }
    if (isJwks) return parseJwksJson(text, url);
    try {
      return JSON.parse(text);
    } catch {
      throw fail(`the ${what} is not valid JSON`);
    }
  }
}

// ---------------------------------------------------------------------------
// Helpers

function parseError(reason: string): AuthError {
  return new AuthError("InvalidAuthHeader", "Could not parse as OIDC ID token. Token might not be an OIDC-compliant JWT.", reason);
}

function invalidJwks(uri: string): AuthError {
  const shown = uri.startsWith("data:") ? "data: URI" : uri;
  return new AuthError(
    "InvalidAuthHeader",
    `Invalid JWKS response body from '${shown}'. The response is not valid JSON or doesn't match the expected JWKS format.`,
  );
}

function parseJwksJson(text: string, uri: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalidJwks(uri);
  }
}

const JWS_PART = /^[A-Za-z0-9_-]*$/;

/** Decodes header and payload without verifying anything; bounded by MAX_TOKEN_LENGTH. */
function parseUnverified(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  if (typeof token !== "string") throw new AuthError("InvalidAuthHeader", "The auth token must be a string.");
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new AuthError("InvalidAuthHeader", `The auth token is too large (${token.length} bytes; the limit is ${MAX_TOKEN_LENGTH}).`);
  }
  const bad = (reason: string) =>
    new AuthError(
      "InvalidAuthHeader",
      "Could not parse JWT payload. Check that the token is a valid JWT format with three base64-encoded parts separated by dots.",
      reason,
    );
  const parts = token.split(".");
  if (parts.length !== 3) throw bad(parts.length === 5 ? "encrypted JWTs (JWE) are not supported" : `expected 3 parts, found ${parts.length}`);
  if (!parts.every((p) => JWS_PART.test(p))) throw bad("a part is not base64url");
  if (parts[0] === "" || parts[1] === "") throw bad("empty header or payload");
  const decode = (part: string, what: string): Record<string, unknown> => {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64url.decode(part)));
    } catch {
      throw bad(`the ${what} is not base64url-encoded JSON`);
    }
    if (!isObject(value)) throw bad(`the ${what} is not a JSON object`);
    return value;
  };
  const header = decode(parts[0], "header");
  const payload = decode(parts[1], "payload");
  if (header.b64 === false) throw bad("unencoded payloads (b64: false) are not supported");
  return { header, payload };
}

/** openidconnect's JOSE header rules: `typ` absent or a JWT type, no `cty`. (`crit` is rejected by jose.) */
function checkOidcHeader(header: Record<string, unknown>, fail: (reason: string) => AuthError): void {
  if (header.typ !== undefined) {
    const typ = typeof header.typ === "string" ? header.typ.toLowerCase() : "";
    const normalized = typ.includes("/") ? typ : `application/${typ}`;
    if (normalized !== "application/jwt" && normalized !== "application/jose") {
      throw fail(`Unsupported: unexpected or unsupported JWT type \`${String(header.typ)}\``);
    }
  }
  if (header.cty !== undefined) throw fail(`Unsupported: unexpected or unsupported JWT content type \`${String(header.cty)}\``);
}

function audienceList(aud: unknown): string[] {
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === "string");
  return [];
}

function withProtocol(issuer: string): string {
  return issuer.startsWith("https://") || issuer.startsWith("http://") ? issuer : `https://${issuer}`;
}

/** Convex's `AuthInfo::matches_token`. */
function matchesToken(provider: AuthProvider, audiences: string[], issuer: string): boolean {
  const applicationID = provider.applicationID;
  const domain = "type" in provider && provider.type === "customJwt" ? provider.issuer : (provider as OidcProvider).domain;
  if (applicationID !== null && applicationID !== undefined && !audiences.includes(applicationID)) return false;
  return domain.replace(/\/+$/, "") === withProtocol(issuer).replace(/\/+$/, "");
}

function noProviderMessage(providers: AuthProvider[]): string {
  if (providers.length === 0) {
    return "No auth provider found matching the given token (no providers configured). Check convex/auth.config.ts.";
  }
  const described = providers.map((p) =>
    "type" in p && p.type === "customJwt"
      ? `CustomJWT(issuer=${p.issuer}, app_id=${p.applicationID ?? "none"})`
      : `OIDC(domain=${(p as OidcProvider).domain}, app_id=${p.applicationID})`,
  );
  return `No auth provider found matching the given token. Check that your JWT's issuer and audience match one of your configured providers: [${described.join(", ")}]`;
}

/** Indexes of the JWKS keys usable for `alg` (and `kid`, when the token names one). */
function eligibleKeys(keys: JWK[], kid: string | undefined, alg: string): number[] {
  const out: number[] = [];
  keys.forEach((k, i) => {
    if (kid !== undefined && k.kid !== kid) return;
    if (k.use !== undefined && k.use !== "sig") return;
    if (k.alg !== undefined && k.alg !== alg) return;
    if (Array.isArray(k.key_ops) && !k.key_ops.includes("verify")) return;
    if ("d" in k) return; // never a private key
    const fits =
      (alg === "RS256" && k.kty === "RSA") ||
      (alg === "ES256" && k.kty === "EC" && k.crv === "P-256") ||
      (alg === "EdDSA" && k.kty === "OKP" && k.crv === "Ed25519");
    if (fits) out.push(i);
  });
  return out;
}

function contentTypeAllowed(value: string | null, allowed: string[]): boolean {
  if (value === null) return false;
  const [essence, ...params] = value.split(";").map((s) => s.trim().toLowerCase());
  if (!allowed.includes(essence)) return false;
  for (const p of params) {
    const [name, v] = p.split("=").map((s) => s.trim());
    if (name === "charset" && v.replace(/"/g, "") !== "utf-8") return false;
  }
  return true;
}

async function readLimited(response: Response, limit: number): Promise<string> {
  const length = Number(response.headers.get("content-length"));
  if (Number.isFinite(length) && length > limit) {
    void response.body?.cancel().catch(() => {});
    throw new Error(`response larger than ${limit} bytes`);
  }
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new Error(`response larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** Decodes a `data:` URL (RFC 2397) to text, or null when malformed. */
function decodeDataUrl(url: string): string | null {
  const comma = url.indexOf(",");
  if (comma < 0) return null;
  const meta = url.slice(5, comma);
  const data = url.slice(comma + 1);
  const isBase64 = meta.split(";").some((p) => p.trim().toLowerCase() === "base64");
  try {
    if (isBase64) {
      const compact = decodeURIComponent(data).replace(/\s+/g, "");
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) return null;
      return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(compact, compact.includes("-") || compact.includes("_") ? "base64url" : "base64"));
    }
    return decodeURIComponent(data);
  } catch {
    return null;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

function isoSeconds(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString();
}

/** chrono's `to_rfc3339` for a UTC time: `+00:00`, fractional seconds only when non-zero. */
function rfc3339(ms: number): string | undefined {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return undefined;
  const iso = d.toISOString(); // 2024-01-02T03:04:05.678Z
  const base = iso.slice(0, 19);
  const frac = iso.slice(20, 23);
  return `${base}${frac === "000" ? "" : `.${frac}`}+00:00`;
}

function baseClaimName(key: string): string {
  const hash = key.indexOf("#");
  return hash >= 0 && OIDC_LOCALIZED.has(key.slice(0, hash)) ? key.slice(0, hash) : key;
}

/** `UserIdentity::from_token` + `UserIdentityAttributesJson` serialization. */
function oidcIdentity(payload: Record<string, unknown>): Record<string, JSONValue> {
  const issuer = payload.iss as string;
  const subject = payload.sub as string;
  const identity: Record<string, JSONValue> = {};
  // Custom claims first so typed fields win on a name clash.
  for (const [key, value] of Object.entries(payload)) {
    if (OIDC_NOT_CUSTOM.has(baseClaimName(key))) continue;
    identity[key] = value as JSONValue;
  }
  for (const [claim, field] of OIDC_STRING_CLAIMS) {
    const v = payload[claim];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") throw parseError(`claim '${claim}' must be a string`);
    identity[field] = v;
  }
  for (const [claim, field] of OIDC_BOOLEAN_CLAIMS) {
    const v = payload[claim];
    if (v === undefined || v === null) continue;
    // openidconnect also accepts the strings "true"/"false" for these.
    if (typeof v === "boolean") identity[field] = v;
    else if (v === "true" || v === "false") identity[field] = v === "true";
    else throw parseError(`claim '${claim}' must be a boolean`);
  }
  if (payload.address !== undefined && payload.address !== null) {
    if (!isObject(payload.address)) throw parseError("claim 'address' must be an object");
    const formatted = payload.address.formatted;
    if (typeof formatted === "string") identity.address = formatted;
  }
  if (payload.updated_at !== undefined && payload.updated_at !== null) {
    const u = payload.updated_at;
    const ms = typeof u === "number" ? u * 1000 : typeof u === "string" ? Date.parse(u) : NaN;
    const text = Number.isFinite(ms) ? rfc3339(ms) : undefined;
    if (text === undefined) throw parseError("claim 'updated_at' must be a NumericDate");
    identity.updatedAt = text;
  }
  identity.tokenIdentifier = `${issuer}|${subject}`;
  identity.issuer = issuer;
  identity.subject = subject;
  return sortKeys(identity);
}

/** `UserIdentity::from_custom_jwt`: non-registered claims, nested objects flattened to dotted keys. */
function customJwtIdentity(payload: Record<string, unknown>): Record<string, JSONValue> {
  const issuer = payload.iss as string;
  const subject = payload.sub as string;
  const custom: Record<string, JSONValue> = {};
  const flatten = (obj: Record<string, unknown>, prefix: string) => {
    for (const [key, value] of Object.entries(obj)) {
      const name = prefix + key;
      if (isObject(value)) flatten(value, `${name}.`);
      else custom[name] = value as JSONValue;
    }
  };
  const privateClaims: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (!REGISTERED_CLAIMS.has(key)) privateClaims[key] = value;
  }
  flatten(privateClaims, "");
  delete custom.fva;
  const identity: Record<string, JSONValue> = {};
  for (const [key, value] of Object.entries(custom)) {
    if (!PROTECTED_FIELDS.has(key)) identity[key] = value;
  }
  identity.tokenIdentifier = `${issuer}|${subject}`;
  identity.issuer = issuer;
  identity.subject = subject;
  return sortKeys(identity);
}

/** serde_json (BTreeMap) emits keys in sorted order; match it for stable output. */
function sortKeys(obj: Record<string, JSONValue>): Record<string, JSONValue> {
  const out: Record<string, JSONValue> = {};
  for (const key of Object.keys(obj).sort()) out[key] = obj[key];
  return out;
}
