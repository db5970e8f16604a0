import { SignJWT } from "jose";
import { MissingEnvironmentVariableError } from "../shared/errors.js";
import { algorithmAudience, CONVEX_AUDIENCE, Env, SESSION_CLAIM } from "../shared/protocol.js";
import { convexSiteUrl } from "./issuer.js";
import { importSigningKey, type ImportedSigningKey, type SigningAlgorithm } from "./keys.js";

export interface ConvexTokenMinterOptions {
  /** PKCS#8 PEM private key. Default: `CONVEX_AUTH_PRIVATE_KEY`, read at the first mint. */
  privateKey?: string;
  /** Default: detected from the key (RSA → RS256, P-256 → ES256). */
  algorithm?: SigningAlgorithm;
  /** Header `kid`. Default: the key's RFC 7638 thumbprint, as `convex-authjs keys` publishes it. */
  keyId?: string;
  /** `iss`. Default: `convexSiteUrl()` of the environment at the first mint. */
  issuer?: string;
  /** Token lifetime. Default 3600 (one hour). */
  lifetimeSeconds?: number;
  /**
   * A cached token is reused until this long before it expires, then a new
   * one is minted. Longer than the Convex client's own refresh lead, so a
   * forced refresh always yields a fresh token. Default 300.
   */
  renewBeforeSeconds?: number;
  /** Users (or user sessions) whose tokens are cached; the least recently used go first. Default 10 000. */
  maxCachedUsers?: number;
  /** The clock, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

export interface ConvexTokenMinterStats {
  /** Private key imports: one per minter, unless the import failed. */
  keyImports: number;
  /** Tokens signed. */
  signatures: number;
  /** Tokens served from the cache. */
  reused: number;
}

/** The Auth.js session a token is minted for. */
export interface TokenSession {
  /**
   * The database session's id (a Convex `sessions` id, never its `sessionToken`): the token's `sid`,
   * so Convex functions refuse the token once that session is gone (`getAuthUserId`).
   */
  id?: string;
  /** When the session expires: the token's `exp` is never later, so it cannot outlive the session. */
  expires?: Date;
}

export interface ConvexTokenMinter {
  /**
   * A Convex access token for the user: `sub` = `userId`, `aud` = `["convex", "convex:<alg>"]`, `sid` = the session's
   * id when given, and `exp` = one lifetime from now or the session's expiry, whichever comes first.
   */
  tokenFor(userId: string, session?: TokenSession): Promise<string>;
  /** Counters, for tests and benchmarks. */
  readonly stats: Readonly<ConvexTokenMinterStats>;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * Mints the JWTs Convex accepts for Auth.js users. The private key is imported
 * once per minter; a user's token for a session is reused until shortly before it expires,
 * and concurrent requests for the same user and session share one signature.
 *
 * @example
 * ```ts
 * const minter = createConvexTokenMinter();
 * const token = await minter.tokenFor(session.userId, { id: session.id, expires: session.expires });
 * ```
 */
export function createConvexTokenMinter(options: ConvexTokenMinterOptions = {}): ConvexTokenMinter {
  const now = options.now ?? Date.now;
  const lifetimeSeconds = options.lifetimeSeconds ?? 3600;
  const renewBeforeMs = (options.renewBeforeSeconds ?? 300) * 1000;
  const maxCachedUsers = options.maxCachedUsers ?? 10_000;
  if (renewBeforeMs >= lifetimeSeconds * 1000) {
    throw new RangeError("renewBeforeSeconds must be shorter than lifetimeSeconds.");
  }

  const stats: ConvexTokenMinterStats = { keyImports: 0, signatures: 0, reused: 0 };
  const cache = new Map<string, CachedToken>();
  const inFlight = new Map<string, Promise<string>>();
  let signer: Promise<{ key: ImportedSigningKey; issuer: string }> | undefined;

  function loadSigner() {
    signer ??= (async () => {
      const pem = options.privateKey ?? process.env[Env.privateKey];
      if (!pem) {
        throw new MissingEnvironmentVariableError(
          Env.privateKey,
          "set it to the private key from `npx convex-authjs keys` (or pass { privateKey }).",
        );
      }
      const issuer = options.issuer ?? convexSiteUrl();
      stats.keyImports++;
      return { key: await importSigningKey(pem, options.algorithm), issuer };
    })();
    // A failed load is not cached, so fixing the environment takes effect without a restart.
    signer.catch(() => (signer = undefined));
    return signer;
  }

  async function mint(cacheKey: string, userId: string, sessionId: string | undefined, notAfterMs: number): Promise<string> {
    const { key, issuer } = await loadSigner();
    const issuedAt = Math.floor(now() / 1000);
    const expiresAt = Math.min(issuedAt + lifetimeSeconds, Math.floor(notAfterMs / 1000));
    const token = await new SignJWT(sessionId === undefined ? {} : { [SESSION_CLAIM]: sessionId })
      .setProtectedHeader({ alg: key.alg, kid: options.keyId ?? key.kid, typ: "JWT" })
      .setSubject(userId)
      .setIssuer(issuer)
      .setAudience([CONVEX_AUDIENCE, algorithmAudience(key.alg)])
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(key.key);
    stats.signatures++;
    cache.delete(cacheKey);
    cache.set(cacheKey, { token, expiresAt: expiresAt * 1000 });
    if (cache.size > maxCachedUsers) cache.delete(cache.keys().next().value as string);
    return token;
  }

  return {
    stats,
    async tokenFor(userId, session = {}) {
      if (typeof userId !== "string" || userId === "") {
        throw new TypeError("tokenFor needs a non-empty user id.");
      }
      if (typeof session !== "object" || session === null) {
        throw new TypeError("tokenFor's second argument is the session: { id?, expires? }.");
      }
      const { id: sessionId, expires } = session;
      if (sessionId !== undefined && (typeof sessionId !== "string" || sessionId === "")) {
        throw new TypeError("tokenFor needs a non-empty session id when one is given.");
      }
      if (expires !== undefined && !(expires instanceof Date && Number.isFinite(expires.getTime()))) {
        throw new TypeError(`tokenFor needs the session's expiry as a valid Date (got ${String(expires)}).`);
      }
      const notAfterMs = expires === undefined ? Infinity : expires.getTime();
      if (notAfterMs <= now()) {
        throw new RangeError(`tokenFor refuses a session that has already expired (at ${expires!.toISOString()}).`);
      }
      // One token per user and session: a token must never name another session than its own.
      const cacheKey = sessionId === undefined ? userId : `${userId}\n${sessionId}`;
      const cached = cache.get(cacheKey);
      // A session shortened since its token was minted gets a new token that ends with it.
      if (cached && now() < cached.expiresAt - renewBeforeMs && cached.expiresAt <= notAfterMs) {
        stats.reused++;
        // Re-insert to keep the Map in least-recently-used order.
        cache.delete(cacheKey);
        cache.set(cacheKey, cached);
        return cached.token;
      }
      const pending = inFlight.get(cacheKey);
      if (pending) return pending;
      const minting = mint(cacheKey, userId, sessionId, notAfterMs).finally(() => inFlight.delete(cacheKey));
      inFlight.set(cacheKey, minting);
      return minting;
    },
  };
}
