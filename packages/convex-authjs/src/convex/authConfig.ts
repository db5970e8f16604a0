import type { AuthConfig, AuthProvider } from "convex/server";
import { CONVEX_AUDIENCE, Env } from "../shared/protocol.js";
import { JWKS_PATH } from "./http.js";

export type SigningAlgorithm = "RS256" | "ES256";

export interface AuthJsProviderOptions {
  /**
   * The algorithm of the signing key. Default: the `alg` of the first key in
   * the deployment's `JWKS`, else `"RS256"`.
   */
  algorithm?: SigningAlgorithm;
  /** The issuer. Default: the deployment's `CONVEX_SITE_URL`. */
  siteUrl?: string;
}

/** Thrown while `auth.config.ts` is evaluated (on push) when it cannot be built. */
export class AuthConfigError extends Error {
  override name = "AuthConfigError";
}

function algorithmFromJwks(): SigningAlgorithm {
  try {
    const alg = JSON.parse(process.env[Env.jwks] ?? "")?.keys?.[0]?.alg;
    return alg === "ES256" ? "ES256" : "RS256";
  } catch {
    return "RS256";
  }
}

/**
 * The Convex auth provider that accepts the tokens `convex-authjs/jwt` mints.
 *
 * It is a `customJwt` provider rather than an OIDC `{ domain, applicationID }`
 * one because: the signing algorithm is pinned (no algorithm confusion) and
 * may be ES256 as well as RS256; the JWKS is fetched directly from
 * `/.well-known/jwks.json`, without a discovery round trip; and the `iss`
 * check is an exact string match with no `domain` normalization to get
 * wrong. `applicationID: "convex"` makes Convex check `aud`, as the minted
 * tokens carry `aud: "convex"`. The discovery document is still served, for
 * tools (or a backend) that prefer the OIDC form.
 *
 * @example
 * ```ts
 * // convex/auth.config.ts
 * import { authJsProvider } from "convex-authjs/convex";
 * export default { providers: [authJsProvider()] };
 * ```
 */
export function authJsProvider(options: AuthJsProviderOptions = {}): AuthProvider {
  const siteUrl = (options.siteUrl ?? process.env[Env.siteUrl] ?? "").replace(/\/+$/, "");
  if (siteUrl === "") {
    throw new AuthConfigError(
      `${Env.siteUrl} is not set on this Convex deployment, so the token issuer is unknown; pass { siteUrl }.`,
    );
  }
  return {
    type: "customJwt",
    issuer: siteUrl,
    jwks: `${siteUrl}${JWKS_PATH}`,
    algorithm: options.algorithm ?? algorithmFromJwks(),
    applicationID: CONVEX_AUDIENCE,
  };
}

/**
 * A whole `auth.config.ts` with the Auth.js provider only.
 *
 * @example
 * ```ts
 * // convex/auth.config.ts
 * import { defineAuthConfig } from "convex-authjs/convex";
 * export default defineAuthConfig();
 * ```
 */
export function defineAuthConfig(options: AuthJsProviderOptions = {}): AuthConfig {
  return { providers: [authJsProvider(options)] };
}
