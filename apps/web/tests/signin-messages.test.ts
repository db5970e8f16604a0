import { afterEach, describe, expect, test, vi } from "vitest";
import { devMailboxEnabled, safeCallbackPath, signInErrorMessage } from "../app/signin/messages";

describe("safeCallbackPath", () => {
  test.each([
    ["/notes", "/notes"],
    ["/notes/server?x=1", "/notes/server?x=1"],
    [["/account", "/other"], "/account"],
  ])("keeps the path %j on this site", (value, expected) => {
    expect(safeCallbackPath(value)).toBe(expected);
  });

  test.each([undefined, "", "https://evil.example/", "//evil.example/x", "/\\evil.example", "notes", "javascript:alert(1)"])(
    "replaces %j, which could leave the site, with /notes",
    (value) => {
      expect(safeCallbackPath(value)).toBe("/notes");
    },
  );
});

describe("signInErrorMessage", () => {
  test("explains a used or expired link", () => {
    expect(signInErrorMessage("Verification")).toMatch(/already used or it has expired/);
  });
  test("says when a rate-limited address may ask for a link again, from a plausible number of minutes only", () => {
    expect(signInErrorMessage("TooManySignInLinks", "40")).toBe("Too many sign-in links were sent to this address. Try again in 40 minutes, or sign in another way.");
    expect(signInErrorMessage("TooManySignInLinks", "1")).toMatch(/Try again in 1 minute,/);
    for (const minutes of [undefined, "0", "abc", "99999", "<b>5</b>"]) {
      expect(signInErrorMessage("TooManySignInLinks", minutes)).toMatch(/Try again later, or sign in another way\.$/);
    }
  });
  test("says when an account whose passkey sign-ins failed takes passkeys again", () => {
    expect(signInErrorMessage("TooManyPasskeyFailures", "12")).toBe("Too many passkey sign-ins to this account failed. Its passkeys work again in 12 minutes; until then, sign in another way.");
    expect(signInErrorMessage("TooManyPasskeyFailures", "soon")).toMatch(/work again later;/);
  });
  test("has a generic message for codes it does not know, and none without a code", () => {
    expect(signInErrorMessage("SomethingNew")).toBe("Sign-in failed. Try again.");
    expect(signInErrorMessage(undefined)).toBeUndefined();
  });
});

describe("devMailboxEnabled", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  test("is on in development with a mailbox directory", () => {
    vi.stubEnv("NODE_ENV", "development");
    vi.stubEnv("DEV_MAILBOX_DIR", "/tmp/mailbox");
    expect(devMailboxEnabled()).toBe(true);
  });
  test("is off in production even with a mailbox directory", () => {
    vi.stubEnv("NODE_ENV", "production");
    vi.stubEnv("DEV_MAILBOX_DIR", "/tmp/mailbox");
    expect(devMailboxEnabled()).toBe(false);
  });
  test("is off without a mailbox directory", () => {
    vi.stubEnv("NODE_ENV", "development");
    vi.stubEnv("DEV_MAILBOX_DIR", "");
    expect(devMailboxEnabled()).toBe(false);
  });
});
