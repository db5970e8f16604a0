/**
 * The providers of `convex/auth.config.ts` and which one a token belongs to, as Convex routes it
 * (crates/common/src/auth.rs `AuthInfo::matches_token`): a provider matches when `aud` contains its
 * applicationID (if any) and `iss` equals its domain/issuer, ignoring trailing slashes and adding
 * `https://` to an `iss` without a scheme.
 */
import type { AuthProvider } from "../runtime/functions.js";
import { AuthError } from "./authError.js";

export type OidcProvider = Extract<AuthProvider, { domain: string }>;
export type CustomJwtProvider = Extract<AuthProvider, { type: "customJwt" }>;

export function isCustomJwtProvider(provider: AuthProvider): provider is CustomJwtProvider {
  return "type" in provider && provider.type === "customJwt";
}

/** An issuer with `https://` added when it names no scheme. */
export function withProtocol(issuer: string): string {
  return issuer.startsWith("https://") || issuer.startsWith("http://") ? issuer : `https://${issuer}`;
}

/** The first provider the token's issuer and audiences match; Convex's error when none does. */
export function providerForToken(providers: readonly AuthProvider[], audiences: string[], issuer: string): AuthProvider {
  const provider = providers.find((p) => matchesToken(p, audiences, issuer));
  if (provider === undefined) throw new AuthError("NoAuthProvider", noProviderMessage(providers));
  return provider;
}

/** Convex's `AuthInfo::matches_token`. */
function matchesToken(provider: AuthProvider, audiences: string[], issuer: string): boolean {
  const applicationID = provider.applicationID;
  const domain = isCustomJwtProvider(provider) ? provider.issuer : provider.domain;
  if (applicationID !== null && applicationID !== undefined && !audiences.includes(applicationID)) return false;
  return domain.replace(/\/+$/, "") === withProtocol(issuer).replace(/\/+$/, "");
}

function noProviderMessage(providers: readonly AuthProvider[]): string {
  if (providers.length === 0) {
    return "No auth provider found matching the given token (no providers configured). Check convex/auth.config.ts.";
  }
  const described = providers.map((p) =>
    isCustomJwtProvider(p)
      ? `CustomJWT(issuer=${p.issuer}, app_id=${p.applicationID ?? "none"})`
      : `OIDC(domain=${p.domain}, app_id=${p.applicationID})`,
  );
  return `No auth provider found matching the given token. Check that your JWT's issuer and audience match one of your configured providers: [${described.join(", ")}]`;
}
