import { httpActionGeneric, type HttpRouter } from "convex/server";
import { Env } from "../shared/protocol.js";

export const OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration";
export const JWKS_PATH = "/.well-known/jwks.json";

export interface AuthRoutesOptions {
  /**
   * How long verifiers may cache both documents, in seconds. Short, because
   * after a key rotation a verifier holding a stale JWKS rejects tokens signed
   * with the new key until its copy expires. Default 60.
   */
  cacheMaxAgeSeconds?: number;
}

// Members that only private JWKs have (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
// Stripped so that a private key pasted into JWKS by mistake is never served.
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** Both documents are public and read by verifiers on any origin. */
const CORS_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, OPTIONS",
  "Access-Control-Max-Age": "86400",
};

class JwksConfigError extends Error {}

function publicJwks(raw: string | undefined): { keys: Record<string, unknown>[] } {
  if (raw === undefined || raw.trim() === "") {
    throw new JwksConfigError(`${Env.jwks} is not set on this Convex deployment.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new JwksConfigError(`${Env.jwks} on this Convex deployment is not valid JSON.`);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((key) => typeof key !== "object" || key === null)) {
    throw new JwksConfigError(`${Env.jwks} on this Convex deployment must be {"keys": [...]}.`);
  }
  return {
    keys: keys.map((key: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries(key).filter(([member]) => !PRIVATE_JWK_MEMBERS.includes(member)),
      ),
    ),
  };
}

function siteUrl(request: Request): string {
  // CONVEX_SITE_URL is built in on Convex; the request's own origin covers backends without it.
  const configured = process.env[Env.siteUrl];
  return (configured || new URL(request.url).origin).replace(/\/+$/, "");
}

// Both documents go out as application/json: every OIDC and JWKS client accepts
// it, while some reject RFC 7517's application/jwk-set+json.
function json(body: unknown, status: number, cacheControl: string) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...CORS_HEADERS, "Content-Type": "application/json", "Cache-Control": cacheControl },
  });
}

/**
 * Serves the token verification documents from `convex/http.ts`:
 * `GET /.well-known/jwks.json` (the `JWKS` environment variable of the
 * deployment, public members only) and `GET /.well-known/openid-configuration`
 * (issuer `CONVEX_SITE_URL`), with CORS preflight for both.
 *
 * @example
 * ```ts
 * // convex/http.ts
 * import { httpRouter } from "convex/server";
 * import { addAuthRoutes } from "convex-authjs/convex";
 *
 * const http = httpRouter();
 * addAuthRoutes(http);
 * export default http;
 * ```
 */
export function addAuthRoutes(http: HttpRouter, options: AuthRoutesOptions = {}): void {
  const maxAge = options.cacheMaxAgeSeconds ?? 60;
  const cacheable = `public, max-age=${maxAge}, stale-while-revalidate=${maxAge}, stale-if-error=86400`;

  // Configuration errors answer 500 without caching, so a fix takes effect at once.
  const serve = (build: (request: Request) => unknown) =>
    httpActionGeneric(async (_ctx, request) => {
      try {
        return json(build(request), 200, cacheable);
      } catch (error) {
        if (!(error instanceof JwksConfigError)) throw error;
        return json({ error: error.message }, 500, "no-store");
      }
    });

  const preflight = httpActionGeneric(async () =>
    new Response(null, { status: 204, headers: CORS_HEADERS }),
  );

  http.route({
    path: JWKS_PATH,
    method: "GET",
    handler: serve(() => publicJwks(process.env[Env.jwks])),
  });
  http.route({
    path: OPENID_CONFIGURATION_PATH,
    method: "GET",
    handler: serve((request) => {
      const issuer = siteUrl(request);
      const algorithms = [
        ...new Set(
          publicJwks(process.env[Env.jwks]).keys.map((key) => key.alg).filter(Boolean),
        ),
      ];
      return {
        issuer,
        jwks_uri: `${issuer}${JWKS_PATH}`,
        // Required by OpenID Connect Discovery parsers; tokens are minted by
        // the Next.js server, so no authorization flow runs here.
        authorization_endpoint: `${issuer}/oauth/authorize`,
        response_types_supported: ["id_token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: algorithms.length > 0 ? algorithms : ["RS256"],
      };
    }),
  });
  for (const path of [JWKS_PATH, OPENID_CONFIGURATION_PATH]) {
    http.route({ path, method: "OPTIONS", handler: preflight });
  }
}
