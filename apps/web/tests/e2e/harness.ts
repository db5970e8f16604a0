/**
 * What e2e test files use: `startStack()` gives a browser on the running app (started once per run
 * by globalSetup.ts), `signIn(page, stack, method)` signs a fresh or given user in through the UI.
 */
import { randomUUID } from "node:crypto";
import { type Browser, chromium, type Page } from "playwright-core";
import { inject } from "vitest";
import { DEV_ACCOUNT } from "../../scripts/dev-services.mjs";
import type { StackInfo } from "./servers";

export interface Stack extends StackInfo {
  /** A page in a new browser context: its own cookies, i.e. its own signed-in user. */
  newPage(): Promise<Page>;
  /** Closes this file's browser; the servers stop after the whole run. */
  close(): Promise<void>;
}

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function startStack(): Promise<Stack> {
  const info = inject("e2eStack");
  const browser: Browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_ARGS });
  return {
    ...info,
    async newPage() {
      const context = await browser.newContext({ baseURL: info.appUrl });
      // Generous: `next dev` compiles a route on its first visit, and CI machines are shared.
      context.setDefaultTimeout(60_000);
      context.setDefaultNavigationTimeout(90_000);
      return context.newPage();
    },
    async close() {
      await browser.close();
    },
  };
}

/** An address no other test uses, so tests running side by side never share a user. */
export function uniqueEmail(label = "user"): string {
  return `${label}-${randomUUID().slice(0, 8)}@example.test`;
}

export type SignInMethod = "email" | "oidc" | "passkey";

/** The development IdP's only account: every "oidc" sign-in is this user. */
export const OIDC_EMAIL = DEV_ACCOUNT.email;

/** Gives the page's tab a Chromium virtual authenticator (CTAP2, resident keys, user verification). */
export async function addVirtualAuthenticator(page: Page): Promise<string> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return authenticatorId;
}

/** Asks for a magic link on the sign-in page; returns once the app says it was sent. */
export async function requestMagicLink(page: Page, stack: StackInfo, email: string, callbackPath = "/notes"): Promise<void> {
  await page.goto(`${stack.appUrl}/signin?callbackUrl=${encodeURIComponent(callbackPath)}`);
  await page.getByLabel("Email address").fill(email);
  await page.getByRole("button", { name: "Email me a sign-in link" }).click();
  await page.waitForURL("**/signin/check-email**");
}

/** Opens the newest email to `email` in the dev mailbox and returns its sign-in link. */
export async function magicLinkFromMailbox(page: Page, stack: StackInfo, email: string): Promise<string> {
  await page.goto(`${stack.appUrl}/dev/mailbox`);
  await page.getByRole("link", { name: `To ${email}:` }).first().click();
  await page.waitForURL("**/dev/mailbox/*");
  const href = await page.locator('a[href*="/signin/confirm"]').first().getAttribute("href");
  if (!href) throw new Error(`no sign-in link in the email to ${email}`);
  return href;
}

/** Waits until the app has signed the page in (Auth.js's session endpoint names the user). */
async function expectSignedInAs(page: Page, email: string): Promise<void> {
  await page.waitForURL((url) => !url.pathname.startsWith("/signin") && !url.pathname.startsWith("/api/auth"));
  const session = await page.evaluate(() => fetch("/api/auth/session").then((response) => response.json()));
  if (session?.user?.email !== email) throw new Error(`expected to be signed in as ${email}, the session is ${JSON.stringify(session)}`);
}

/**
 * Signs the page's browser context in through the real UI and returns the user's email.
 * - "email": magic link via the dev mailbox, for `email` (default: a fresh user);
 * - "oidc": the development IdP's login and consent pages; always OIDC_EMAIL;
 * - "passkey": registers a passkey in a virtual authenticator for `email` (signing in by email to do
 *   so, from the account page), signs out, then signs in with the passkey alone.
 */
export async function signIn(page: Page, stack: StackInfo, method: SignInMethod, email: string = uniqueEmail()): Promise<{ email: string }> {
  switch (method) {
    case "email": {
      await requestMagicLink(page, stack, email);
      await page.goto(await magicLinkFromMailbox(page, stack, email));
      await page.getByRole("button", { name: "Sign in" }).click();
      await expectSignedInAs(page, email);
      return { email };
    }
    case "oidc": {
      await page.goto(`${stack.appUrl}/signin`);
      await page.getByRole("button", { name: "Sign in with Dev IdP" }).click();
      await page.waitForURL(`${stack.idp.issuer}/interaction/**`);
      await page.getByLabel("Username").fill(DEV_ACCOUNT.username);
      await page.getByLabel("Password").fill(DEV_ACCOUNT.password);
      await page.getByRole("button", { name: "Sign in" }).click();
      // Consent is asked once per IdP session; a new browser context always has a new one.
      await page.waitForURL((url) => url.origin === new URL(stack.appUrl).origin || url.pathname.startsWith("/interaction/"));
      if (new URL(page.url()).origin === stack.idp.issuer) await page.getByRole("button", { name: "Allow" }).click();
      await expectSignedInAs(page, OIDC_EMAIL);
      return { email: OIDC_EMAIL };
    }
    case "passkey": {
      await addVirtualAuthenticator(page);
      await signIn(page, stack, "email", email);
      await page.goto(`${stack.appUrl}/account`);
      // Registering ends by loading /account again; signing out before that load lands would send
      // it, without a session, to /signin instead of leaving the user on /.
      const reloaded = page.waitForEvent("load");
      await page.getByRole("button", { name: "Add a passkey" }).click();
      await reloaded;
      await page.getByTestId("passkeys").locator("li").first().waitFor();
      // Sign out through the app: it deletes the session, so a session refresh still in flight
      // cannot bring it back (as clearing cookies alone would allow).
      await page.getByRole("button", { name: "Sign out" }).first().click();
      await page.waitForURL(`${stack.appUrl}/`);
      await page.goto(`${stack.appUrl}/signin`);
      await page.getByRole("button", { name: "Sign in with a passkey" }).click();
      await expectSignedInAs(page, email);
      return { email };
    }
  }
}
