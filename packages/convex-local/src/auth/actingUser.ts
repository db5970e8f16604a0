/**
 * The user an admin acts as ("acting as a user": `npx convex run --identity`, the dashboard's "act
 * as a user"), read as Convex reads it and shaped as `ctx.auth.getUserIdentity()` returns it.
 *
 * - Over HTTP the admin key carries it as a suffix: `Authorization: Convex <key>:<base64 of the
 *   UTF-8 JSON>` (convex/browser's `setAdminAuth`; crates/local_backend/src/authentication.rs
 *   `extract_admin_key`).
 * - Over the sync WebSocket the `Authenticate` message carries the JSON object as `impersonating`.
 *
 * Either JSON is Convex's `UserIdentityAttributesJson` (crates/convex/sync_types/src/types/json.rs):
 * typed camelCase fields, every other field a custom claim, `tokenIdentifier` or else
 * `issuer|subject`.
 *
 *   actingUserIdentity({ subject: "u1", name: "Zoë", issuer: "https://convex.test", team: "a" })
 *   // { tokenIdentifier: "https://convex.test|u1", issuer: "https://convex.test", subject: "u1", name: "Zoë", team: "a" }
 */
import type { JSONValue } from "convex/values";
import { isJsonObject } from "../storage/index.js";

/** An acting-as identity Convex would refuse to parse; the message is serde's or Convex's reason. */
export class MalformedIdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedIdentityError";
  }
}

/**
 * The typed fields of `UserIdentityAttributesJson` in its declaration order — the order Convex writes
 * them in (its JSON keeps insertion order), custom claims after them by name — with their types.
 */
const TYPED_FIELDS: ReadonlyMap<string, "string" | "boolean"> = new Map([
  ["tokenIdentifier", "string"], ["issuer", "string"], ["subject", "string"], ["name", "string"], ["givenName", "string"],
  ["familyName", "string"], ["nickname", "string"], ["preferredUsername", "string"], ["profileUrl", "string"],
  ["pictureUrl", "string"], ["websiteUrl", "string"], ["email", "string"], ["emailVerified", "boolean"], ["gender", "string"],
  ["birthday", "string"], ["timezone", "string"], ["language", "string"], ["phoneNumber", "string"],
  ["phoneNumberVerified", "boolean"], ["address", "string"], ["updatedAt", "string"],
]);

/**
 * The identity functions see for an acting-as JSON value. A typed field that is null is left out,
 * as Convex drops it; custom claims (any JSON, null too) are kept as they are. Throws
 * {@link MalformedIdentityError} where Convex's parse fails.
 */
export function actingUserIdentity(value: unknown): Record<string, JSONValue> {
  if (!isJsonObject(value)) throw new MalformedIdentityError(`invalid type: ${serdeUnexpected(value)}, expected struct UserIdentityAttributesJson`);
  const typed = new Map<string, JSONValue>();
  const customClaims: [string, JSONValue][] = [];
  for (const [field, fieldValue] of Object.entries(value)) {
    const expected = TYPED_FIELDS.get(field);
    if (expected === undefined) customClaims.push([field, fieldValue as JSONValue]);
    else if (fieldValue === null) continue;
    else if (typeof fieldValue !== expected) throw new MalformedIdentityError(`invalid type: ${serdeUnexpected(fieldValue)}, expected a ${expected}`);
    else typed.set(field, fieldValue as JSONValue);
  }
  if (!typed.has("tokenIdentifier")) {
    if (!typed.has("issuer") || !typed.has("subject")) {
      throw new MalformedIdentityError('Either "tokenIdentifier" or "issuer" and "subject" must be set');
    }
    typed.set("tokenIdentifier", `${typed.get("issuer") as string}|${typed.get("subject") as string}`);
  }
  const identity: Record<string, JSONValue> = {};
  for (const field of TYPED_FIELDS.keys()) if (typed.has(field)) identity[field] = typed.get(field)!;
  // Custom claims are a BTreeMap: by name, in UTF-8 byte order. Defined, not assigned: a claim named `__proto__` stays a claim.
  customClaims.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const [claim, claimValue] of customClaims) {
    Object.defineProperty(identity, claim, { value: claimValue, enumerable: true, writable: true, configurable: true });
  }
  return identity;
}

/**
 * The identity in an admin key's acting-as suffix: standard base64 (padding optional, as the
 * base64 0.13 crate decodes) of UTF-8 JSON.
 */
export function actingUserFromKeySuffix(suffix: string): Record<string, JSONValue> {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(suffix) || suffix.replace(/=+$/, "").length % 4 === 1) {
    throw new MalformedIdentityError("Invalid base64");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(suffix, "base64"));
  } catch {
    throw new MalformedIdentityError("invalid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MalformedIdentityError((error as Error).message);
  }
  return actingUserIdentity(parsed);
}

/** How serde names a JSON value it did not expect (`serde::de::Unexpected`). */
function serdeUnexpected(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "sequence";
  switch (typeof value) {
    case "boolean":
      return `boolean \`${value}\``;
    case "number":
      return Number.isInteger(value) ? `integer \`${value}\`` : `floating point \`${value}\``;
    case "string":
      return `string ${JSON.stringify(value)}`;
    default:
      return "map";
  }
}
