import { ConvexAdapter } from "convex-authjs/adapter";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { magicLinkFromMailbox, OIDC_EMAIL, requestMagicLink, signIn, type Stack, startStack, uniqueEmail } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

async function sessionEmail(page: Page): Promise<string | null> {
  const session = await page.evaluate(() => fetch("/api/auth/session").then((response) => response.json()));
  return session?.user?.email ?? null;
}

/** The page's error message (not Next.js's route announcer, which is also an alert). */
async function alertText(page: Page): Promise<string> {
  const alert = page.locator('[role="alert"]:not(#__next-route-announcer__)');
  await alert.waitFor();
  return (await alert.textContent()) ?? "";
}

describe("route protection (proxy.ts)", () => {
  test.each(["/notes", "/account"])("a signed-out visit to %s lands on the sign-in page, which remembers where to return", async (path) => {
    const page = await stack.newPage();
    await page.goto(path);
    await page.waitForURL("**/signin?**");
    expect(new URL(page.url()).searchParams.get("callbackUrl")).toContain(path);
    expect(await page.getByRole("heading", { name: "Sign in" }).isVisible()).toBe(true);
  });
});

describe("sign-in page", () => {
  test("the home page's Sign in link opens one page offering every configured method", async () => {
    const page = await stack.newPage();
    await page.goto("/");
    await page.getByRole("link", { name: "Sign in", exact: true }).click();
    await page.waitForURL("**/signin?**");
    for (const name of ["Email me a sign-in link", "Sign in with Dev IdP", "Sign in with a passkey"]) {
      expect(await page.getByRole("button", { name }).isVisible()).toBe(true);
    }
  });
});

describe("email magic link", () => {
  test("the link from the mailbox signs the user in and returns to the page they asked for", async () => {
    const page = await stack.newPage();
    const email = uniqueEmail();
    await page.goto("/notes");
    await page.waitForURL("**/signin?**");
    await page.getByLabel("Email address").fill(email);
    await page.getByRole("button", { name: "Email me a sign-in link" }).click();
    await page.waitForURL("**/signin/check-email");
    expect(await page.getByRole("heading", { name: "Check your email" }).isVisible()).toBe(true);

    await page.goto(await magicLinkFromMailbox(page, stack, email));
    expect(await page.getByTestId("confirm-email").textContent()).toBe(email);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL("**/notes");
    expect(await sessionEmail(page)).toBe(email);
  });

  test("opening the link (as a mail scanner does) does not use it; it then works once, and a second use is refused clearly", async () => {
    const page = await stack.newPage();
    const email = uniqueEmail();
    await requestMagicLink(page, stack, email);
    const link = await magicLinkFromMailbox(page, stack, email);

    // A scanner fetches the link and follows redirects, with no cookies and no clicks.
    const scanned = await fetch(link, { redirect: "follow" });
    expect(scanned.status).toBe(200);
    expect(await sessionEmail(page)).toBeNull();

    await page.goto(link);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL("**/notes");
    expect(await sessionEmail(page)).toBe(email);

    const other = await stack.newPage();
    await other.goto(link);
    await other.getByRole("button", { name: "Sign in" }).click();
    await other.waitForURL("**/signin/error**");
    expect(await alertText(other)).toContain("This sign-in link is no longer valid");
    expect(await sessionEmail(other)).toBeNull();
  });

  test("a tampered token is refused and signs nobody in", async () => {
    const page = await stack.newPage();
    const email = uniqueEmail();
    await requestMagicLink(page, stack, email);
    const link = new URL(await magicLinkFromMailbox(page, stack, email));
    link.searchParams.set("token", "0".repeat(64));
    await page.goto(link.href);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL("**/signin/error**");
    expect(await alertText(page)).toContain("This sign-in link is no longer valid");
    expect(await sessionEmail(page)).toBeNull();
  });

  test("a link missing its token says it is incomplete", async () => {
    const page = await stack.newPage();
    await page.goto(`/signin/confirm?email=${encodeURIComponent(uniqueEmail())}`);
    expect(await alertText(page)).toContain("This sign-in link is incomplete");
    expect(await page.getByRole("button", { name: "Sign in" }).count()).toBe(0);
  });

  test("an address the browser accepts but that has no domain is refused with a clear message", async () => {
    const page = await stack.newPage();
    await page.goto("/signin");
    await page.getByLabel("Email address").fill("someone@localhost");
    await page.getByRole("button", { name: "Email me a sign-in link" }).click();
    await page.waitForURL("**/signin?**error=InvalidEmail**");
    expect(await alertText(page)).toBe("Enter a valid email address.");
  });

  test("the 6th link for one address within the hour is refused on the sign-in page, saying when to try again; no email is sent", async () => {
    const page = await stack.newPage();
    // A client address of its own, so the other tests' links do not count against it (limitSignIns reads X-Forwarded-For).
    await page.setExtraHTTPHeaders({ "x-forwarded-for": "203.0.113.61" });
    const email = uniqueEmail("limited");
    for (let i = 0; i < 5; i++) await requestMagicLink(page, stack, email);
    await page.goto(`${stack.appUrl}/signin`);
    await page.getByLabel("Email address").fill(email);
    await page.getByRole("button", { name: "Email me a sign-in link" }).click();
    await page.waitForURL("**/signin?**error=TooManySignInLinks**");
    expect(await alertText(page)).toMatch(/^Too many sign-in links were sent to this address\. Try again in (59|60) minutes, or sign in another way\.$/);
    await page.goto(`${stack.appUrl}/dev/mailbox`);
    expect(await page.getByRole("link", { name: `To ${email}:` }).count()).toBe(5);
  });

  test("the dev mailbox answers 404 for ids that are not message ids", async () => {
    const page = await stack.newPage();
    const response = await page.goto("/dev/mailbox/..%2F..%2Fpackage");
    expect(response?.status()).toBe(404);
  });
});

describe("OpenID Connect (local IdP)", () => {
  test("signs in through the IdP's login and consent pages", async () => {
    const page = await stack.newPage();
    const { email } = await signIn(page, stack, "oidc");
    expect(email).toBe(OIDC_EMAIL);
    await page.goto("/account");
    expect(await page.getByTestId("account-email").textContent()).toContain(OIDC_EMAIL);
    expect(await page.getByTestId("linked-accounts").textContent()).toContain("oidc");
  });

  test("a wrong password stays on the IdP with an error and signs nobody in", async () => {
    const page = await stack.newPage();
    await page.goto("/signin");
    await page.getByRole("button", { name: "Sign in with Dev IdP" }).click();
    await page.waitForURL(`${stack.idp.issuer}/interaction/**`);
    await page.getByLabel("Username").fill("dev");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect(await alertText(page)).toBe("Wrong username or password.");
    await page.goto(stack.appUrl);
    expect(await sessionEmail(page)).toBeNull();
  });
});

describe("passkeys (Chromium virtual authenticator)", () => {
  test("a passkey registered on the account page signs the same user in on its own", async () => {
    const page = await stack.newPage();
    const email = uniqueEmail("passkey");
    await signIn(page, stack, "passkey", email);
    expect(await sessionEmail(page)).toBe(email);
    await page.goto("/account");
    const passkeys = page.getByTestId("passkeys").locator("li");
    await passkeys.first().waitFor(); // the list arrives live from Convex
    expect(await passkeys.count()).toBe(1);
  });
});

describe("sessions", () => {
  test("signing out ends the session: the signed-in pages send the user to sign in again", async () => {
    const page = await stack.newPage();
    await signIn(page, stack, "email");
    await page.goto("/notes");
    await page.getByRole("button", { name: "Sign out" }).first().click();
    await page.waitForURL(`${stack.appUrl}/`);
    expect(await sessionEmail(page)).toBeNull();
    await page.goto("/notes");
    await page.waitForURL("**/signin?**");
  });

  test("an expired session (expired in the database) sends the user back to sign in", async () => {
    const page = await stack.newPage();
    await signIn(page, stack, "email");
    const cookie = (await page.context().cookies()).find((c) => c.name === "authjs.session-token");
    expect(cookie).toBeDefined();
    const adapter = ConvexAdapter({ url: stack.backend.url, secret: stack.adapterSecret });
    await adapter.updateSession!({ sessionToken: cookie!.value, expires: new Date(Date.now() - 60_000) });

    await page.goto("/notes");
    await page.waitForURL("**/signin?**");
    expect(new URL(page.url()).searchParams.get("callbackUrl")).toContain("/notes");
    expect(await sessionEmail(page)).toBeNull();
  });
});
