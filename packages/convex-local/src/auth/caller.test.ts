import { describe, expect, it } from "vitest";
import { MalformedIdentityError } from "./actingUser.js";
import { AuthError } from "./authError.js";
import { CallerResolver } from "./caller.js";

const ADMIN_KEY = "convex-local|0123456789abcdef";
const providers = () => [{ type: "customJwt" as const, applicationID: null, issuer: "https://issuer.example", jwks: "data:application/json,{\"keys\":[]}", algorithm: "RS256" }];
const callers = new CallerResolver({ adminKey: ADMIN_KEY, providers });

/** An unsigned token for the configured issuer: well formed, but no key in the JWKS verifies it. */
const unverifiableToken = [{ alg: "RS256", kid: "k" }, { iss: "https://issuer.example", sub: "u" }, "sig"]
  .map((part) => Buffer.from(typeof part === "string" ? part : JSON.stringify(part)).toString("base64url"))
  .join(".");

async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AuthError);
  const { status, code, message } = error as AuthError;
  return { status, code, message };
}

describe("the Authorization header of the deployment API", () => {
  it("is anonymous when absent or empty", async () => {
    expect(await callers.fromAuthorizationHeader(undefined)).toEqual({ identity: null, admin: false });
    expect(await callers.fromAuthorizationHeader("")).toEqual({ identity: null, admin: false });
  });

  it("names the admin with `Convex <admin key>`, any case, after a type prefix the dashboard may add", async () => {
    expect(await callers.fromAuthorizationHeader(`Convex ${ADMIN_KEY}`)).toEqual({ identity: null, admin: true });
    expect(await callers.fromAuthorizationHeader(`convex ${ADMIN_KEY}`)).toEqual({ identity: null, admin: true });
    expect(await callers.fromAuthorizationHeader(`Convex prod:${ADMIN_KEY}`)).toEqual({ identity: null, admin: true });
  });

  it("acts as the user a `:<base64 JSON>` suffix names, with the identity in Convex's field order", async () => {
    const suffix = Buffer.from(JSON.stringify({ zeta: [1], name: "Zoë 🎉", subject: "u", issuer: "https://i.example", gender: null, alpha: { b: 1 } })).toString("base64");
    const caller = await callers.fromAuthorizationHeader(`Convex ${ADMIN_KEY}:${suffix}`);
    expect(caller).toEqual({
      admin: true,
      identity: { tokenIdentifier: "https://i.example|u", issuer: "https://i.example", subject: "u", name: "Zoë 🎉", alpha: { b: 1 }, zeta: [1] },
    });
    // Typed fields in UserIdentityAttributesJson's order, then custom claims by name; a null typed field is left out.
    expect(Object.keys(caller.identity!)).toEqual(["tokenIdentifier", "issuer", "subject", "name", "alpha", "zeta"]);
    // base64 without padding is read too, as Convex's decoder reads it.
    const unpadded = Buffer.from(JSON.stringify({ tokenIdentifier: "t" })).toString("base64").replace(/=+$/, "");
    expect((await callers.fromAuthorizationHeader(`Convex prod:${ADMIN_KEY}:${unpadded}`)).identity).toEqual({ tokenIdentifier: "t" });
  });

  it("refuses an acting-as suffix that does not parse with 400 HeaderParseFailure, whatever the key", async () => {
    const encode = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64");
    for (const suffix of ["%%%", encode("{not json"), encode([1]), encode({ name: "x" }), encode({ tokenIdentifier: 1 }), encode({ tokenIdentifier: "t", emailVerified: "yes" }), Buffer.from([0xff, 0xfe]).toString("base64")]) {
      for (const key of [ADMIN_KEY, "not-the-key"]) {
        expect(await refusal(callers.fromAuthorizationHeader(`Convex ${key}:${suffix}`))).toEqual({ status: 400, code: "HeaderParseFailure", message: "Malformed Authorization header." });
      }
    }
  });

  it("refuses another key with 401 BadAdminKey, also a prefix or an extension of the key", async () => {
    for (const key of ["convex-local|0123456789abcdeX", ADMIN_KEY.slice(0, -1), `${ADMIN_KEY}0`]) {
      expect(await refusal(callers.fromAuthorizationHeader(`Convex ${key}`))).toEqual({
        status: 401,
        code: "BadAdminKey",
        message: "The provided admin key was invalid for this instance",
      });
    }
  });

  it("refuses the admin key, valid or not, on a request with an Origin header (a web page) with 401", async () => {
    for (const key of [ADMIN_KEY, `${ADMIN_KEY}:eyJzdWIiOiJ1In0`, "not-the-key", "not-the-key:%%%"]) {
      expect(await refusal(callers.fromAuthorizationHeader(`Convex ${key}`, "http://localhost:5173"))).toEqual({
        status: 401,
        code: "BadAdminKey",
        message: 'convex-local does not accept an admin key from a web page (Origin "http://localhost:5173"); use the CLI or a server-side client.',
      });
    }
    // `Origin: null` (a sandboxed frame, a file:// page) is a web page too; a huge Origin is quoted cut short.
    expect((await refusal(callers.fromAuthorizationHeader(`Convex ${ADMIN_KEY}`, "null"))).status).toBe(401);
    expect((await refusal(callers.fromAuthorizationHeader(`Convex ${ADMIN_KEY}`, "o".repeat(100_000)))).message.length).toBeLessThan(400);
    // Without the admin key a page is served as any caller.
    expect(await callers.fromAuthorizationHeader(undefined, "http://localhost:5173")).toEqual({ identity: null, admin: false });
  });

  it("refuses a malformed header with 400, as Convex does", async () => {
    expect(await refusal(callers.fromAuthorizationHeader("abc"))).toEqual({ status: 400, code: "InvalidHeaderFailure", message: "Invalid authentication header" });
    expect(await refusal(callers.fromAuthorizationHeader("Basic dXNlcjpwYXNz"))).toEqual({ status: 400, code: "InvalidAdminKey", message: "Invalid admin key" });
  });

  it("refuses a bearer token that does not verify with 401 and the verifier's code", async () => {
    const { status, code } = await refusal(callers.fromAuthorizationHeader(`Bearer ${unverifiableToken}`));
    expect({ status, code }).toEqual({ status: 401, code: "InvalidAuthHeader" });
  });
});

describe("the sync protocol's Authenticate token", () => {
  it("accepts the admin key and refuses any other, also the key with a `:` suffix (the user goes in `impersonating`)", async () => {
    expect(await callers.fromSyncToken({ tokenType: "Admin", value: ADMIN_KEY })).toEqual({ identity: null, admin: true });
    for (const value of ["nope", `${ADMIN_KEY}:x`, undefined]) {
      await expect(callers.fromSyncToken({ tokenType: "Admin", value })).rejects.toThrow("The provided admin key was invalid for this instance");
    }
  });

  it("acts as the user `impersonating` names; null names nobody; one that does not parse is Convex's parse error", async () => {
    expect(await callers.fromSyncToken({ tokenType: "Admin", value: ADMIN_KEY, impersonating: { subject: "u", issuer: "i", nickname: "ß" } })).toEqual({
      identity: { tokenIdentifier: "i|u", issuer: "i", subject: "u", nickname: "ß" },
      admin: true,
    });
    expect(await callers.fromSyncToken({ tokenType: "Admin", value: ADMIN_KEY, impersonating: null })).toEqual({ identity: null, admin: true });
    const parseError = (impersonating: unknown) => callers.fromSyncToken({ tokenType: "Admin", value: ADMIN_KEY, impersonating }).catch((e: unknown) => e);
    expect(await parseError({ subject: "u" })).toEqual(new MalformedIdentityError('Either "tokenIdentifier" or "issuer" and "subject" must be set'));
    expect(await parseError({ tokenIdentifier: "t", email: false })).toEqual(new MalformedIdentityError("invalid type: boolean `false`, expected a string"));
    expect(await parseError("t")).toEqual(new MalformedIdentityError('invalid type: string "t", expected struct UserIdentityAttributesJson'));
  });

  it("refuses the admin key on a connection whose upgrade carried an Origin", async () => {
    await expect(callers.fromSyncToken({ tokenType: "Admin", value: ADMIN_KEY }, "http://localhost:5173")).rejects.toThrow(
      'convex-local does not accept an admin key from a web page (Origin "http://localhost:5173")',
    );
    expect(await callers.fromSyncToken({ tokenType: "None" }, "http://localhost:5173")).toEqual({ identity: null, admin: false });
  });

  it("is anonymous without a token, and refuses a user token that does not verify", async () => {
    expect(await callers.fromSyncToken({ tokenType: "None" })).toEqual({ identity: null, admin: false });
    await expect(callers.fromSyncToken({ tokenType: "User", value: unverifiableToken })).rejects.toBeInstanceOf(AuthError);
  });
});

describe("an HTTP action's caller", () => {
  it("runs with a refused header, carrying the refusal for getUserIdentity() (HTTP actions are public endpoints)", async () => {
    expect(await callers.forHttpAction(`Bearer ${unverifiableToken}`)).toEqual({ identity: null, admin: false, identityError: expect.any(String) });
    expect(await callers.forHttpAction("Basic x")).toEqual({ identity: null, admin: false, identityError: "Invalid admin key" });
    expect(await callers.forHttpAction(`Convex ${ADMIN_KEY}`, "https://page.example")).toMatchObject({ admin: false, identityError: expect.stringContaining("does not accept an admin key from a web page") });
    expect(await callers.forHttpAction(`Convex ${ADMIN_KEY}`)).toEqual({ identity: null, admin: true });
    expect(await callers.forHttpAction(undefined)).toEqual({ identity: null, admin: false });
  });
});
