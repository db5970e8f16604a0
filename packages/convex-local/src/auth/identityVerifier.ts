/**
 * Verifies the JWTs that clients send with `client.setAuth(...)` against the providers from
 * `convex/auth.config.ts`, and returns the identity `ctx.auth.getUserIdentity()` returns, the way
 * Convex's backend does (crates/authentication/src/lib.rs: provider routing, iss/aud rules,
 * error strings).
 *
 * Time checks: custom JWT providers use Convex's 5 s epsilon on `exp`, `nbf` and a future `iat`.
 * OIDC providers check `exp` strictly (as Convex's OIDC verifier does) and `nbf` with the same 5 s
 * epsilon (Convex's OIDC path ignores `nbf`; we are stricter). A future `iat` is accepted for OIDC,
 * as in Convex.
 */
import type { JSONValue } from "convex/values";
import type { AuthProvider } from "../runtime/functions.js";
import { AuthError, oidcParseError } from "./authError.js";
import { customJwtIdentity, oidcIdentity } from "./claims.js";
import { audienceList, decodeUnverified, isoSeconds } from "./jwt.js";
import { KeySets, type KeySetOptions } from "./keySets.js";
import { isCustomJwtProvider, providerForToken, withProtocol, type CustomJwtProvider, type OidcProvider } from "./providers.js";
import { verifySignature } from "./signatures.js";

/** Convex's custom JWT validation epsilon (biscuit TemporalOptions). */
const CLOCK_TOLERANCE_S = 5;

/** Convex's OIDC verifier allows RS256 and EdDSA (Ed25519) only. */
const OIDC_ALGORITHMS = ["RS256", "EdDSA"] as const;
/** Convex's custom JWT `algorithm` accepts RS256 and ES256 only. */
const CUSTOM_JWT_ALGORITHMS = ["RS256", "ES256"] as const;

const MISSING_ISSUER =
  "Missing issuer claim ('iss') in JWT payload. The JWT must include an 'iss' claim that matches one of your configured auth providers.";

export interface VerifiedIdentity {
  identity: Record<string, JSONValue>;
  /** The token's `exp`, in ms since the epoch. */
  expiresAtMs: number;
}

export class IdentityVerifier {
  private readonly providers: AuthProvider[];
  private readonly now: () => number;
  private readonly keySets: KeySets;

  constructor(providers: AuthProvider[], options: KeySetOptions = {}) {
    this.providers = providers.slice();
    this.now = options.now ?? Date.now;
    this.keySets = new KeySets(options);
  }

  /** Verifies `token` and returns the identity exactly as `ctx.auth.getUserIdentity()` returns it. */
  async verify(token: string): Promise<Record<string, JSONValue>> {
    return (await this.verifyToken(token)).identity;
  }

  /** Like `verify`, also returning the token's expiry (for sessions that must drop the identity when it lapses). */
  async verifyToken(token: string): Promise<VerifiedIdentity> {
    const { header, payload } = decodeUnverified(token);
    const issuer = payload.iss;
    if (typeof issuer !== "string") throw new AuthError("InvalidAuthHeader", MISSING_ISSUER);
    const provider = providerForToken(this.providers, audienceList(payload.aud), issuer);
    if (isCustomJwtProvider(provider)) return this.verifyCustomJwt(token, header, provider);
    return this.verifyOidc(token, header, issuer, provider);
  }

  private async verifyOidc(token: string, header: Record<string, unknown>, tokenIssuer: string, provider: OidcProvider): Promise<VerifiedIdentity> {
    const generic = (reason: string) =>
      new AuthError(
        "Unauthenticated",
        "Could not verify OIDC token claim. Check that the token signature is valid and the token hasn't expired.",
        reason,
      );
    const domain = withProtocol(provider.domain).replace(/\/+$/, "");

    // Cheap checks before any network: algorithm, header shape.
    const alg = header.alg;
    if (typeof alg !== "string" || !(OIDC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw generic(
        `Signature verification failed: algorithm \`${String(alg)}\` is not one of: ${OIDC_ALGORITHMS.join(", ")}`,
      );
    }
    checkOidcHeader(header, generic);

    const { payload, keySet } = await verifySignature(this.keySets, {
      token,
      header,
      alg,
      source: this.keySets.oidcSource(domain, tokenIssuer),
      requireKid: false,
      fail: generic,
    });
    const discoveredIssuer = keySet.issuer ?? domain;

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
    if (typeof payload.exp !== "number" || !Number.isFinite(payload.exp)) throw oidcParseError("missing or invalid 'exp'");
    if (typeof payload.iat !== "number" || !Number.isFinite(payload.iat)) throw oidcParseError("missing or invalid 'iat'");
    const nowS = this.now() / 1000;
    if (nowS >= payload.exp) throw generic(`Expired: token expired at ${isoSeconds(payload.exp)}`);
    if (payload.nbf !== undefined) {
      if (typeof payload.nbf !== "number" || !Number.isFinite(payload.nbf)) throw oidcParseError("invalid 'nbf'");
      if (payload.nbf - nowS > CLOCK_TOLERANCE_S) throw generic(`Token not yet valid (nbf ${isoSeconds(payload.nbf)})`);
    }
    if (typeof payload.sub !== "string") throw oidcParseError("missing or invalid 'sub'");

    return { identity: oidcIdentity(payload), expiresAtMs: payload.exp * 1000 };
  }

  private async verifyCustomJwt(token: string, header: Record<string, unknown>, provider: CustomJwtProvider): Promise<VerifiedIdentity> {
    const kid = header.kid;
    const decodeError = (reason?: string) =>
      new AuthError(
        "InvalidAuthHeader",
        typeof kid === "string"
          ? `Could not decode token. The JWT's 'kid' (key ID) header is '${kid}', does this key match any key in the provider's JWKS?`
          : "Could not decode token. JWT may be missing a 'kid' (key ID) header.",
        reason,
      );
    const algorithm = provider.algorithm;
    if (!(CUSTOM_JWT_ALGORITHMS as readonly string[]).includes(algorithm)) {
      throw new AuthError("InvalidAuthHeader", `Unsupported algorithm '${algorithm}' in auth.config.ts. Only RS256 and ES256 are supported.`);
    }
    if (header.alg !== algorithm) throw decodeError(`the JWT's 'alg' header is '${String(header.alg)}', expected '${algorithm}'`);
    if (typeof kid !== "string") throw decodeError();

    const { payload } = await verifySignature(this.keySets, {
      token,
      header,
      alg: algorithm,
      source: this.keySets.jwksSource(provider.jwks),
      requireKid: true,
      fail: decodeError,
    });

    const tokenIssuer = payload.iss;
    if (typeof tokenIssuer !== "string") throw new AuthError("InvalidAuthHeader", MISSING_ISSUER);
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
    // Temporal checks (biscuit ValidationOptions::default with a 5 s epsilon, at Convex's clock in
    // whole seconds), in biscuit's words: "Token expired N seconds ago", "Token will be valid in N seconds".
    const nowS = Math.floor(this.now() / 1000);
    const invalid = (why: string) => new AuthError("InvalidAuthHeader", `Could not validate token: ${why}`);
    for (const claim of ["exp", "nbf", "iat"] as const) {
      const v = payload[claim];
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v))) throw invalid(`'${claim}' is not a NumericDate`);
    }
    if (typeof payload.exp === "number" && nowS - payload.exp > CLOCK_TOLERANCE_S) throw invalid(`Token expired ${Math.trunc(nowS - payload.exp)} seconds ago`);
    if (typeof payload.nbf === "number" && payload.nbf - nowS > CLOCK_TOLERANCE_S) throw invalid(`Token will be valid in ${Math.trunc(payload.nbf - nowS)} seconds`);
    // A future `iat` gets biscuit's NotYetValid too.
    if (typeof payload.iat === "number" && payload.iat - nowS > CLOCK_TOLERANCE_S) throw invalid(`Token will be valid in ${Math.trunc(payload.iat - nowS)} seconds`);

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
