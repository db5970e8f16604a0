/**
 * Who is calling, from what a request carries: the admin key (compared in constant time), a user's
 * JWT verified against the deployment's current `auth.config.ts` providers, or nobody. One place
 * for the deployment API's `Authorization` header, the sync protocol's `Authenticate` message and
 * HTTP actions' bearer tokens, as Convex's crates/local_backend/src/authentication.rs and
 * crates/keybroker (`check_admin_key`) resolve them. An admin key may name a user to act as
 * (actingUser.ts): the caller is then the admin, with that user's identity, as Convex's
 * `Identity::ActingUser`, which may call what the admin may. An admin key is refused on a request
 * that carries an `Origin` header (README "Security"): browsers always send one on cross-origin
 * requests and POSTs, the CLI and other programs never do, so no web page gains admin powers.
 */
import { timingSafeEqual } from "node:crypto";
import type { JSONValue } from "convex/values";
import type { AuthProvider } from "../runtime/functions.js";
import { ANONYMOUS, type Caller } from "../runtime/runner.js";
import { truncateText } from "../text/valueText.js";
import { actingUserFromKeySuffix, actingUserIdentity, MalformedIdentityError } from "./actingUser.js";
import { AuthError } from "./authError.js";
import { IdentityVerifier } from "./identityVerifier.js";

export interface CallerResolverOptions {
  adminKey: string;
  /** The providers of the pushed `auth.config.ts`, read on every token (a push may change them). */
  providers: () => AuthProvider[];
  /** How long a fetched JWKS / OIDC discovery document is trusted (default 10 minutes). */
  jwksCacheMs?: number;
}

/** The sync protocol's `Authenticate` token (crates/convex/sync_types `AuthenticationToken`). */
export interface SyncAuthToken {
  tokenType: "Admin" | "User" | "None";
  value?: string;
  /** With an admin key: the user to act as, Convex's `UserIdentityAttributesJson` (null: nobody). */
  impersonating?: unknown;
}

const INVALID_ADMIN_KEY = "The provided admin key was invalid for this instance";

/**
 * The refusal of an admin key sent with an `Origin` header: from a web page, which may use the public
 * API with a user's token but never the admin key (401, in the sync socket's words).
 */
export function adminKeyFromWebPage(origin: string): AuthError {
  return new AuthError(
    "BadAdminKey",
    `convex-local does not accept an admin key from a web page (Origin ${JSON.stringify(truncateText(origin, 200))}); use the CLI or a server-side client.`,
  );
}

export class CallerResolver {
  private readonly adminKey: string;
  private readonly providers: () => AuthProvider[];
  private readonly jwksCacheMs: number | undefined;
  /** The verifier of the current providers; a new one (with empty key caches) when they change. */
  private verifier: { providers: string; instance: IdentityVerifier } | undefined;

  constructor({ adminKey, providers, jwksCacheMs }: CallerResolverOptions) {
    this.adminKey = adminKey;
    this.providers = providers;
    this.jwksCacheMs = jwksCacheMs;
  }

  /**
   * The deployment API's `Authorization` header: `Convex <admin key>`, `Bearer <JWT>`, or none
   * (anonymous). Throws an {@link AuthError} with Convex's code and status otherwise, and when an
   * admin key comes with an `Origin` header (`origin`: the request's), from a web page.
   */
  async fromAuthorizationHeader(header: string | undefined, origin?: string): Promise<Caller> {
    if (header === undefined || header === "") return ANONYMOUS;
    if (header.length < 7) throw new AuthError("InvalidHeaderFailure", "Invalid authentication header");
    if (/^convex /i.test(header)) {
      // Refused before the key is compared: a page learns nothing about a key it tries.
      if (origin !== undefined) throw adminKeyFromWebPage(origin);
      const { key, actingAs } = splitAdminKey(header.slice(7).trim());
      // As Convex: the acting-as suffix is parsed with the header, before the key is checked.
      let identity: Record<string, JSONValue> | null = null;
      try {
        if (actingAs !== undefined) identity = actingUserFromKeySuffix(actingAs);
      } catch (error) {
        if (error instanceof MalformedIdentityError) throw new AuthError("HeaderParseFailure", "Malformed Authorization header.");
        throw error;
      }
      if (!this.isAdminKey(key)) throw new AuthError("BadAdminKey", INVALID_ADMIN_KEY);
      return { identity, admin: true };
    }
    if (!/^bearer /i.test(header)) throw new AuthError("InvalidAdminKey", "Invalid admin key");
    try {
      const token = header.slice(7).trim();
      return { identity: await this.verifyUserToken(token), admin: false, authToken: token };
    } catch (error) {
      throw error instanceof AuthError ? error : new AuthError("Unauthenticated", (error as Error).message);
    }
  }

  /**
   * An HTTP action's caller, from the same `Authorization` header as the deployment API. As on
   * Convex (local_backend's `TryExtractIdentity`), a refused header does not refuse the request:
   * HTTP actions are public endpoints (webhooks carry their own secrets), so the action runs and
   * `ctx.auth.getUserIdentity()` throws the refusal.
   */
  async forHttpAction(header: string | undefined, origin?: string): Promise<Caller> {
    try {
      return await this.fromAuthorizationHeader(header, origin);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      return { identity: null, admin: false, identityError: error.message };
    }
  }

  /**
   * The caller a sync connection's `Authenticate` message names; throws an {@link AuthError} when
   * its credential is refused, or is an admin key on a connection whose upgrade carried an `Origin`
   * (`origin`), and a {@link MalformedIdentityError} when the user it acts as does not parse.
   */
  async fromSyncToken(token: SyncAuthToken, origin?: string): Promise<Caller> {
    if (token.tokenType === "Admin") {
      if (origin !== undefined) throw adminKeyFromWebPage(origin);
      const { impersonating } = token;
      const identity = impersonating === undefined || impersonating === null ? null : actingUserIdentity(impersonating);
      // Here the key travels alone (the user is `impersonating`): a `:` suffix makes it no key, as on Convex.
      const presented = token.value === undefined ? undefined : splitAdminKey(token.value);
      if (presented === undefined || presented.actingAs !== undefined || !this.isAdminKey(presented.key)) {
        throw new AuthError("BadAdminKey", INVALID_ADMIN_KEY);
      }
      return { identity, admin: true };
    }
    if (token.tokenType === "User" && token.value !== undefined) return { identity: await this.verifyUserToken(token.value), admin: false, authToken: token.value };
    return ANONYMOUS;
  }

  /** Whether `key` is this deployment's admin key, compared in constant time. */
  private isAdminKey(key: string): boolean {
    const presented = Buffer.from(key);
    const expected = Buffer.from(this.adminKey);
    return presented.length === expected.length && timingSafeEqual(presented, expected);
  }

  private async verifyUserToken(token: string): Promise<Record<string, JSONValue>> {
    const providers = this.providers();
    const key = JSON.stringify(providers);
    if (this.verifier?.providers !== key) {
      this.verifier = { providers: key, instance: new IdentityVerifier(providers, { jwksCacheMs: this.jwksCacheMs }) };
    }
    return await this.verifier.instance.verify(token);
  }
}

/**
 * An admin key as clients send it: a type prefix the dashboard and CLI may put before the
 * deployment name (`prod:name|secret`) is removed, then anything after the first `:` is the
 * acting-as identity (crates/common/src/types/admin_key.rs `remove_type_prefix`,
 * crates/local_backend/src/authentication.rs `extract_admin_key`).
 */
function splitAdminKey(text: string): { key: string; actingAs: string | undefined } {
  const bar = text.indexOf("|");
  const typeEnd = bar < 0 ? -1 : text.slice(0, bar).indexOf(":");
  const key = text.slice(typeEnd + 1);
  const colon = key.indexOf(":");
  return colon < 0 ? { key, actingAs: undefined } : { key: key.slice(0, colon), actingAs: key.slice(colon + 1) };
}
