/**
 * A verified token's claims as the identity `ctx.auth.getUserIdentity()` returns, the way Convex
 * builds it: crates/keybroker/src/broker.rs (`UserIdentity::from_token`, `from_custom_jwt`) for the
 * mapping and custom-claim pass-through, crates/convex/sync_types/src/types/json.rs
 * (`UserIdentityAttributesJson`) for the camelCase field names, custom claims flattened into the
 * same object.
 */
import type { JSONValue } from "convex/values";
import { oidcParseError } from "./authError.js";
import { isJsonObject } from "../storage/index.js";

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

/** `UserIdentity::from_token` + `UserIdentityAttributesJson` serialization. */
export function oidcIdentity(payload: Record<string, unknown>): Record<string, JSONValue> {
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
    if (typeof v !== "string") throw oidcParseError(`claim '${claim}' must be a string`);
    identity[field] = v;
  }
  for (const [claim, field] of OIDC_BOOLEAN_CLAIMS) {
    const v = payload[claim];
    if (v === undefined || v === null) continue;
    // openidconnect also accepts the strings "true"/"false" for these.
    if (typeof v === "boolean") identity[field] = v;
    else if (v === "true" || v === "false") identity[field] = v === "true";
    else throw oidcParseError(`claim '${claim}' must be a boolean`);
  }
  if (payload.address !== undefined && payload.address !== null) {
    if (!isJsonObject(payload.address)) throw oidcParseError("claim 'address' must be an object");
    const formatted = payload.address.formatted;
    if (typeof formatted === "string") identity.address = formatted;
  }
  if (payload.updated_at !== undefined && payload.updated_at !== null) {
    const u = payload.updated_at;
    const ms = typeof u === "number" ? u * 1000 : typeof u === "string" ? Date.parse(u) : NaN;
    const text = Number.isFinite(ms) ? rfc3339(ms) : undefined;
    if (text === undefined) throw oidcParseError("claim 'updated_at' must be a NumericDate");
    identity.updatedAt = text;
  }
  identity.tokenIdentifier = `${issuer}|${subject}`;
  identity.issuer = issuer;
  identity.subject = subject;
  return sortKeys(identity);
}

/** `UserIdentity::from_custom_jwt`: non-registered claims, nested objects flattened to dotted keys. */
export function customJwtIdentity(payload: Record<string, unknown>): Record<string, JSONValue> {
  const issuer = payload.iss as string;
  const subject = payload.sub as string;
  const custom: Record<string, JSONValue> = {};
  const flatten = (obj: Record<string, unknown>, prefix: string) => {
    for (const [key, value] of Object.entries(obj)) {
      const name = prefix + key;
      if (isJsonObject(value)) flatten(value, `${name}.`);
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

function baseClaimName(key: string): string {
  const hash = key.indexOf("#");
  return hash >= 0 && OIDC_LOCALIZED.has(key.slice(0, hash)) ? key.slice(0, hash) : key;
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

/** serde_json (BTreeMap) emits keys in sorted order; match it for stable output. */
function sortKeys(obj: Record<string, JSONValue>): Record<string, JSONValue> {
  const out: Record<string, JSONValue> = {};
  for (const key of Object.keys(obj).sort()) out[key] = obj[key];
  return out;
}
