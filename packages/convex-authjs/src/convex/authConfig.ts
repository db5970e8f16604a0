import type { AuthConfig, AuthProvider } from "convex/server";
import { algorithmAudience, CONVEX_AUDIENCE, Env } from "../shared/protocol.js";
import { JWKS_PATH } from "./http.js";

export type SigningAlgorithm = "RS256" | "ES256";

// The algorithms of Convex's customJwt providers (and of `convex-authjs keys`).
const PROVIDER_ALGORITHMS: readonly SigningAlgorithm[] = ["RS256", "ES256"];

export interface AuthJsProviderOptions {
  /**
   * `authJsProvider()`: the algorithm of the signing key. `defineAuthConfig()`/`authJsProviders()`:
   * the algorithm of tokens minted by earlier releases, which carry only `aud: "convex"`.
   * Default: the `alg` of the first key in the deployment's `JWKS` when pushed, else `"RS256"`.
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
 * One Convex auth provider for the tokens `convex-authjs/jwt` mints with one algorithm
 * (`options.algorithm`, default: the first `JWKS` key's when pushed), matching `aud: "convex"`.
 * Prefer `authJsProviders()`: with this one alone, a rotation to a key of another algorithm needs a
 * push (until then every token fails to verify).
 *
 * It is a `customJwt` provider rather than an OIDC `{ domain, applicationID }`
 * one because: the signing algorithm is pinned (no algorithm confusion) and
 * may be ES256 as well as RS256 (Convex's OIDC verifier takes RS256 and EdDSA only); the JWKS is
 * fetched directly from `/.well-known/jwks.json`, without a discovery round trip; and the `iss`
 * check is an exact string match with no `domain` normalization to get
 * wrong. The application ID makes Convex check `aud`. The discovery document is still served, for
 * tools (or a backend) that prefer the OIDC form.
 */
export function authJsProvider(options: AuthJsProviderOptions = {}): AuthProvider {
  const siteUrl = siteUrlOf(options);
  return {
    type: "customJwt",
    issuer: siteUrl,
    jwks: `${siteUrl}${JWKS_PATH}`,
    algorithm: options.algorithm ?? algorithmFromJwks(),
    applicationID: CONVEX_AUDIENCE,
  };
}

function siteUrlOf(options: AuthJsProviderOptions): string {
  const siteUrl = (options.siteUrl ?? process.env[Env.siteUrl] ?? "").replace(/\/+$/, "");
  if (siteUrl === "") {
    throw new AuthConfigError(
      `${Env.siteUrl} is not set on this Convex deployment, so the token issuer is unknown; pass { siteUrl }.`,
    );
  }
  return siteUrl;
}

/**
 * The Convex auth providers that accept the tokens `convex-authjs/jwt` mints, whatever the algorithm
 * of the key that signed them: one `customJwt` provider per algorithm, each matching tokens whose
 * `aud` names it (`"convex:RS256"`, `"convex:ES256"`), then one for tokens minted by earlier releases
 * (`aud: "convex"` only, `options.algorithm`). Convex picks the first provider whose issuer and
 * application ID match a token and verifies it with that provider's algorithm, so with these a key
 * rotation to another algorithm (`npx convex-authjs keys --alg ES256 --rotate --set`) needs no push:
 * tokens signed with the old key verify against its entry, kept in `JWKS`, and new ones against theirs.
 *
 * @example
 * ```ts
 * // convex/auth.config.ts
 * import { authJsProviders } from "convex-authjs/convex";
 * export default { providers: [...authJsProviders(), myOtherProvider] };
 * ```
 */
export function authJsProviders(options: AuthJsProviderOptions = {}): AuthProvider[] {
  const siteUrl = siteUrlOf(options);
  const provider = (algorithm: SigningAlgorithm, applicationID: string): AuthProvider => ({
    type: "customJwt",
    issuer: siteUrl,
    jwks: `${siteUrl}${JWKS_PATH}`,
    algorithm,
    applicationID,
  });
  return [
    ...PROVIDER_ALGORITHMS.map((algorithm) => provider(algorithm, algorithmAudience(algorithm))),
    provider(options.algorithm ?? algorithmFromJwks(), CONVEX_AUDIENCE),
  ];
}

/**
 * A whole `auth.config.ts` with the Auth.js providers only (`authJsProviders()`).
 *
 * @example
 * ```ts
 * // convex/auth.config.ts
 * import { defineAuthConfig } from "convex-authjs/convex";
 * export default defineAuthConfig();
 * ```
 */
export function defineAuthConfig(options: AuthJsProviderOptions = {}): AuthConfig {
  return { providers: authJsProviders(options) };
}
