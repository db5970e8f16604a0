/**
 * The signing keys of the configured providers: a JWKS fetched from its URL (or decoded from a
 * `data:` URI, as Convex's custom JWT providers allow), or found through OIDC discovery
 * (`/.well-known/openid-configuration`), each cached with a refetch cooldown and failing closed.
 *
 * Convex reference (get-convex/convex-backend): crates/authentication/src/lib.rs (OIDC discovery,
 * custom-JWT JWKS fetching, error strings).
 */
import type { JWK } from "jose";
import { AuthError, errorText } from "./authError.js";
import { isJsonObject } from "../storage/index.js";

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

export interface KeySetOptions {
  fetch?: typeof fetch;
  /** Current time in ms since the epoch (tests inject a clock). */
  now?: () => number;
  /** How long a fetched discovery document / JWKS is trusted. Default 10 minutes. */
  jwksCacheMs?: number;
  /** Minimum interval between refetches caused by an unknown `kid`. Default min(30 s, jwksCacheMs). */
  refetchCooldownMs?: number;
}

/** One fetched key set. */
export interface KeySet {
  keys: JWK[];
  fetchedAt: number;
  /** Imported keys, by index into `keys` and algorithm. */
  imported: Map<string, Promise<CryptoKey | Uint8Array>>;
  /** OIDC only: the `issuer` of the discovery document. */
  issuer?: string;
}

/** Where a key set comes from: its cache key and how to fetch it. */
export interface KeySetSource {
  cacheKey: string;
  load: () => Promise<KeySet>;
}

interface CacheSlot {
  keySet: KeySet | null;
  inflight: Promise<KeySet> | null;
  lastFetchStartedAt: number | null;
  /** The last fetch failure, replayed (fail closed) for FAILURE_BACKOFF_MS instead of refetching per token. */
  lastError: { error: unknown; at: number } | null;
}

/** The key sets of one set of providers, cached by source. */
export class KeySets {
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly cacheMs: number;
  private readonly cooldownMs: number;
  /** Keyed by `jwks:` + URL, or `oidc:` + domain. */
  private readonly cache = new Map<string, CacheSlot>();

  constructor(options: KeySetOptions = {}) {
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.now = options.now ?? Date.now;
    this.cacheMs = options.jwksCacheMs ?? DEFAULT_JWKS_CACHE_MS;
    this.cooldownMs = options.refetchCooldownMs ?? Math.min(DEFAULT_REFETCH_COOLDOWN_MS, this.cacheMs);
  }

  /** The keys of an OIDC provider at `domain` (no trailing slash), found by discovery; `tokenIssuer` names it in errors. */
  oidcSource(domain: string, tokenIssuer: string): KeySetSource {
    const load = async (): Promise<KeySet> => {
      const fail = (detail: string) => new AuthError("AuthProviderDiscoveryFailed", `Auth provider discovery of ${tokenIssuer} failed: ${detail}`);
      const url = `${domain}/.well-known/openid-configuration`;
      const body = await this.fetchJson(url, ["application/json"], (d) => fail(d), false);
      if (!isJsonObject(body) || typeof body.issuer !== "string" || typeof body.jwks_uri !== "string") {
        throw fail("the discovery document has no 'issuer' or 'jwks_uri'");
      }
      if (body.issuer.replace(/\/+$/, "") !== domain) {
        throw fail(`unexpected issuer URI '${body.issuer}' (expected '${domain}')`);
      }
      const jwks = await this.fetchJwks(body.jwks_uri);
      return { ...jwks, issuer: body.issuer };
    };
    return { cacheKey: `oidc:${domain}`, load };
  }

  /** The keys of a custom JWT provider's `jwks` (a URL or a `data:` URI). */
  jwksSource(jwksUri: string): KeySetSource {
    return { cacheKey: `jwks:${jwksUri}`, load: () => this.fetchJwks(jwksUri) };
  }

  /** Whether an unknown `kid` may refetch the set now (once per cooldown, or by joining a running fetch). */
  mayRefetch(source: KeySetSource): boolean {
    const slot = this.slot(source.cacheKey);
    if (slot.inflight !== null) return true; // will join the running fetch
    return slot.lastFetchStartedAt === null || this.now() - slot.lastFetchStartedAt >= this.cooldownMs;
  }

  /** The cached key set, fetched when missing, stale, or `force`d. Concurrent callers share one fetch. */
  async get(source: KeySetSource, force: boolean): Promise<KeySet> {
    const slot = this.slot(source.cacheKey);
    const fresh = slot.keySet !== null && this.now() - slot.keySet.fetchedAt < this.cacheMs;
    if (fresh && !force) return slot.keySet!;
    if (slot.inflight === null && slot.lastError !== null && this.now() - slot.lastError.at < Math.min(FAILURE_BACKOFF_MS, this.cooldownMs)) {
      throw slot.lastError.error;
    }
    if (slot.inflight === null) {
      slot.lastFetchStartedAt = this.now();
      const p = source.load().then(
        (keySet) => {
          slot.keySet = keySet;
          slot.lastError = null;
          return keySet;
        },
        (e: unknown) => {
          // Fail closed: a failed refresh drops the stale keys too.
          slot.keySet = null;
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

  private slot(cacheKey: string): CacheSlot {
    let slot = this.cache.get(cacheKey);
    if (slot === undefined) {
      slot = { keySet: null, inflight: null, lastFetchStartedAt: null, lastError: null };
      this.cache.set(cacheKey, slot);
    }
    return slot;
  }

  /** Fetches (or decodes a data: URI) and validates a JWKS. */
  private async fetchJwks(jwksUri: string): Promise<KeySet> {
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
    if (!isJsonObject(body) || !Array.isArray(body.keys) || !body.keys.every(isJsonObject)) {
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
