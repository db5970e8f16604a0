/**
 * Every page of the app, as a signed-in user sees it in Chromium: live notes across tabs, the
 * server-rendered pages' HTML, the clicks route handler, the Pages Router page, the account page,
 * route protection, and bad input (empty, oversized, tampered ids, another user's data).
 */
import { randomUUID } from "node:crypto";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { signIn, type Stack, startStack } from "./harness";

const SIGNED_IN_PAGES = ["/notes", "/notes/preloaded", "/notes/server", "/pages-router/notes", "/account"];

let stack: Stack;
/** Alice's first tab; her other tabs share its browser context (and so her session). */
let alice: Page;
let aliceEmail: string;

beforeAll(async () => {
  stack = await startStack();
  alice = await stack.newPage();
  ({ email: aliceEmail } = await signIn(alice, stack, "email"));
  // Compiles the routes `next dev` has not built yet, so no test below waits on the compiler.
  for (const path of [...SIGNED_IN_PAGES, "/api/clicks"]) {
    expect((await alice.request.get(path)).status()).toBe(200);
  }
});
afterAll(async () => {
  await stack?.close();
});

/** A note text no other test writes. */
function uniqueText(label: string): string {
  return `${label} ${randomUUID().slice(0, 8)}`;
}

async function addNote(page: Page, text: string): Promise<void> {
  await page.getByLabel("New note").fill(text);
  await page.getByRole("button", { name: "Add note" }).click();
}

/** The list item showing `text`, once it is there. */
async function noteItem(page: Page, text: string) {
  const item = page.locator("ul.notes li").filter({ hasText: text });
  await item.waitFor();
  return item;
}

/** The page's HTML as the server sends it with the context's cookies, before any script runs. */
async function serverHtml(page: Page, path: string): Promise<string> {
  const response = await page.request.get(path, { maxRedirects: 0 });
  expect(response.status()).toBe(200);
  return await response.text();
}

/** The error message shown in `scope` (not Next.js's route announcer, which is an alert too). */
async function errorShown(scope: Locator): Promise<string | null> {
  const alert = scope.getByRole("alert").filter({ hasText: /./ });
  await alert.waitFor();
  return await alert.textContent();
}

/** The Convex token of the page's current session, as any script there can read it. */
async function convexTokenOf(page: Page): Promise<string> {
  return await page.evaluate(async () => (await (await fetch("/api/auth/session")).json()).convexToken);
}

/**
 * Calls a Convex function from the page, as any script there could: with `token`, or else its own
 * session's Convex token.
 */
async function callConvex(page: Page, kind: "query" | "mutation", path: string, args: Record<string, unknown>, token?: string) {
  return await page.evaluate(
    async ({ convexUrl, kind, path, args, token }) => {
      const response = await fetch(`${convexUrl}/api/${kind}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ path, args, format: "convex_encoded_json" }),
      });
      return (await response.json()) as { status: string; value?: unknown; errorData?: { code: string; message: string } };
    },
    { convexUrl: stack.backend.url, kind, path, args, token: token ?? (await convexTokenOf(page)) },
  );
}

describe("home", () => {
  test("Unauthenticated content for visitors, Authenticated content once signed in", async () => {
    const visitor = await stack.newPage();
    await visitor.goto("/");
    await visitor.getByText("You are signed out.").waitFor();
    expect(await visitor.getByText("You are signed in.").count()).toBe(0);

    await alice.goto("/");
    await alice.getByText("You are signed in.").waitFor();
    expect(await alice.getByText("You are signed out.").count()).toBe(0);
    await visitor.context().close();
  });

  test("a signed-in user sees AuthLoading until Convex confirms the token, and never the signed-out view", async () => {
    const page = await alice.context().newPage();
    // Records, from the first parsed byte on, the order in which each auth gate's text first shows.
    await page.addInitScript(() => {
      const shown: string[] = [];
      Object.assign(window, { shownAuthStates: shown });
      const record = () => {
        for (const text of ["Loading…", "You are signed out.", "You are signed in."]) {
          // innerText: rendered text only (the RSC payload's scripts carry every gate's children).
          if (!shown.includes(text) && document.body?.innerText.includes(text)) shown.push(text);
        }
      };
      new MutationObserver(record).observe(document, { childList: true, subtree: true, characterData: true });
    });
    await page.goto("/");
    await page.getByText("You are signed in.").waitFor();
    expect(await page.evaluate(() => (window as unknown as { shownAuthStates: string[] }).shownAuthStates)).toEqual(["Loading…", "You are signed in."]);
    await page.close();
  });
});

describe("notes (useQuery, live)", () => {
  test("create, edit and delete in one tab show up in another without a reload", async () => {
    const tabB = await alice.context().newPage();
    await alice.goto("/notes");
    await tabB.goto("/notes");
    await tabB.getByRole("button", { name: "Add note" }).waitFor();

    const text = uniqueText("live note");
    await addNote(alice, text);
    await noteItem(tabB, text);

    const edited = `${text}, edited`;
    await (await noteItem(alice, text)).getByRole("button", { name: "Edit" }).click();
    await alice.getByLabel("Edit note").fill(edited);
    await alice.getByRole("button", { name: "Save" }).click();
    await noteItem(tabB, edited);

    await (await noteItem(alice, edited)).getByRole("button", { name: "Delete" }).click();
    for (const tab of [tabB, alice]) await tab.locator("ul.notes li").filter({ hasText: text }).waitFor({ state: "detached" });
    await tabB.close();
  });

  test("empty and oversized notes get a clear error and are not saved", async () => {
    await alice.goto("/notes");
    const form = alice.locator("form").filter({ has: alice.getByLabel("New note") });
    await addNote(alice, "   ");
    expect(await errorShown(form)).toBe("A note cannot be empty.");

    await addNote(alice, "x".repeat(2001));
    await form.getByRole("alert").filter({ hasText: "at most" }).waitFor();
    expect(await errorShown(form)).toBe("A note can be at most 2000 characters long (got 2001).");
    expect(await alice.locator("ul.notes li").filter({ hasText: "xxxxxxxxxx" }).count()).toBe(0);

    const text = uniqueText("kept");
    await addNote(alice, text);
    await (await noteItem(alice, text)).getByRole("button", { name: "Edit" }).click();
    const editing = alice.locator("ul.notes li").filter({ has: alice.getByLabel("Edit note") });
    await editing.getByLabel("Edit note").fill("");
    await editing.getByRole("button", { name: "Save" }).click();
    expect(await errorShown(editing)).toBe("A note cannot be empty.");
    await editing.getByRole("button", { name: "Cancel" }).click();
    expect(await (await noteItem(alice, text)).locator("span").first().textContent()).toBe(text);
  });
});

describe("another user's data", () => {
  test("is not listed, and tampered or foreign ids cannot read or change it", async () => {
    const bob = await stack.newPage();
    await signIn(bob, stack, "email");
    await bob.goto("/notes");
    const bobsText = uniqueText("private note of bob");
    await addNote(bob, bobsText);
    await noteItem(bob, bobsText);

    // Alice's pages never show it, client-rendered or server-rendered.
    await alice.goto("/notes");
    await alice.getByRole("button", { name: "Add note" }).waitFor();
    await alice.getByText("Loading notes…").waitFor({ state: "detached" });
    expect(await alice.getByText(bobsText).count()).toBe(0);
    for (const path of ["/notes/server", "/notes/preloaded", "/pages-router/notes"]) {
      expect(await serverHtml(alice, path)).not.toContain(bobsText);
    }

    // Bob's note id, as Bob's own browser knows it; Alice's script tries it and a tampered one.
    const bobsNotes = await callConvex(bob, "query", "notes:list", {});
    const bobsNoteId = (bobsNotes.value as Array<{ _id: string; text: string }>).find((note) => note.text === bobsText)!._id;
    const tampered = bobsNoteId.slice(0, -2) + (bobsNoteId.endsWith("aa") ? "bb" : "aa");
    for (const id of [bobsNoteId, tampered]) {
      for (const [path, args] of [
        ["notes:update", { id, text: "alice was here" }],
        ["notes:remove", { id }],
      ] as const) {
        const result = await callConvex(alice, "mutation", path, args);
        expect(result).toMatchObject({ status: "error", errorData: { code: "NOT_FOUND", message: "Note not found." } });
      }
    }

    // Bob still sees his note as he wrote it, and nothing was added to his list.
    await bob.reload();
    const item = await noteItem(bob, bobsText);
    expect(await item.locator("span").first().textContent()).toBe(bobsText);
    expect(await bob.getByText("alice was here").count()).toBe(0);
    await bob.context().close();
  });
});

describe("server rendering", () => {
  test("the HTML of the preloadQuery, fetchQuery and Pages Router pages already holds the user's notes", async () => {
    const text = uniqueText("server-rendered note");
    expect(await callConvex(alice, "mutation", "notes:create", { text })).toMatchObject({ status: "success" });

    for (const path of ["/notes/preloaded", "/notes/server", "/pages-router/notes"]) {
      const html = await serverHtml(alice, path);
      expect(html, path).toContain(`<span>${text}</span>`);
    }
    // The Pages Router page also carries the signed-in user, from getServerSideProps.
    expect(await serverHtml(alice, "/pages-router/notes")).toContain(aliceEmail);
    // The client-only page renders its list in the browser: the server sends "Loading notes…".
    const clientOnly = await serverHtml(alice, "/notes");
    expect(clientOnly).not.toContain(`<span>${text}</span>`);
    expect(clientOnly).toContain("Loading notes…");
  });

  test("the preloaded and Pages Router pages go live after loading", async () => {
    for (const path of ["/notes/preloaded", "/pages-router/notes"]) {
      await alice.goto(path);
      await alice.locator("h1").waitFor();
      const text = uniqueText(`added while ${path} is open`);
      expect(await callConvex(alice, "mutation", "notes:create", { text })).toMatchObject({ status: "success" });
      await noteItem(alice, text);
    }
  });
});

describe("/api/clicks (route handler with ConvexHttpClient)", () => {
  test("GET reads the count for anyone; POST needs a session and adds one", async () => {
    const visitor = await stack.newPage();
    const before = await (await visitor.request.get("/api/clicks")).json();
    expect(before).toEqual({ clicks: expect.any(Number) });

    const anonymous = await visitor.request.post("/api/clicks");
    expect(anonymous.status()).toBe(401);
    expect(await anonymous.json()).toEqual({ error: "Sign in to click." });

    const signedIn = await alice.request.post("/api/clicks");
    expect(signedIn.status()).toBe(200);
    expect(await signedIn.json()).toEqual({ clicks: before.clicks + 1 });
    expect(await (await visitor.request.get("/api/clicks")).json()).toEqual({ clicks: before.clicks + 1 });
    await visitor.context().close();
  });

  test("the home page's button clicks through the route handler", async () => {
    await alice.goto("/");
    const shown = alice.getByTestId("clicks");
    await shown.filter({ hasText: /^\d+ clicks?$/ }).waitFor();
    const count = Number((await shown.textContent())!.split(" ")[0]);
    await alice.getByRole("button", { name: "Click" }).click();
    await shown.filter({ hasText: new RegExp(`^${count + 1} clicks?$`) }).waitFor();
  });
});

describe("route protection (proxy.ts)", () => {
  test("signed-out visitors of every signed-in page are sent to sign in, and back after", async () => {
    const visitor = await stack.newPage();
    for (const path of SIGNED_IN_PAGES) {
      await visitor.goto(path);
      await visitor.waitForURL((url) => url.pathname === "/signin");
      expect(new URL(visitor.url()).searchParams.get("callbackUrl"), path).toBe(path);
      // And the server never sent the page itself.
      const response = await visitor.request.get(path, { maxRedirects: 0 });
      expect(response.status(), path).toBe(307);
    }
    await visitor.context().close();
  });
});

describe("account", () => {
  test("shows the user and open sessions; sign out everywhere ends every browser's session", async () => {
    const user = await stack.newPage();
    const { email } = await signIn(user, stack, "email");
    // A second device: its own browser context, signed in as the same user with its own session.
    const otherBrowser = await stack.newPage();
    await signIn(otherBrowser, stack, "email", email);
    // It keeps live views of the user's notes and account open.
    const text = uniqueText("seen elsewhere");
    await otherBrowser.goto("/notes");
    await addNote(otherBrowser, text);
    await noteItem(otherBrowser, text);
    const otherAccount = await otherBrowser.context().newPage();
    await otherAccount.goto("/account");
    await otherAccount.getByTestId("account-email").filter({ hasText: email }).waitFor();
    const leftoverToken = await convexTokenOf(otherAccount);
    expect(await callConvex(otherAccount, "query", "account:overview", {}, leftoverToken)).toMatchObject({ value: { email } });

    await user.goto("/account");
    await user.getByTestId("account-email").filter({ hasText: email }).waitFor();
    await user.getByTestId("active-sessions").filter({ hasText: /^2$/ }).waitFor();
    expect(await user.getByText("No passkeys yet.").isVisible()).toBe(true);

    await user.getByRole("button", { name: "Sign out everywhere" }).click();
    await user.waitForURL((url) => url.pathname === "/");
    await user.getByText("You are signed out.").waitFor();

    // Without a reload: its Convex token named a deleted session, so its live queries re-ran signed out.
    await otherBrowser.locator("ul.notes li").filter({ hasText: text }).waitFor({ state: "detached" });
    await otherBrowser.getByText("No notes yet.").waitFor();
    expect(otherBrowser.url()).toMatch(/\/notes$/);
    await otherAccount.getByText("You are signed out.").waitFor();
    expect(await otherAccount.getByTestId("account-email").count()).toBe(0);
    expect(otherAccount.url()).toMatch(/\/account$/);
    // A copy of its token is refused too, though the JWT itself has not expired.
    expect(await callConvex(otherAccount, "mutation", "notes:create", { text: "after sign-out" }, leftoverToken)).toMatchObject({
      status: "error",
      errorData: { code: "UNAUTHENTICATED" },
    });
    expect(await callConvex(otherAccount, "query", "account:overview", {}, leftoverToken)).toMatchObject({ status: "success", value: null });
    await otherBrowser.goto("/notes");
    await otherBrowser.waitForURL((url) => url.pathname === "/signin");
    const session = await otherBrowser.evaluate(() => fetch("/api/auth/session").then((response) => response.json()));
    expect(session).toBeNull();
    await user.context().close();
    await otherBrowser.context().close();
  });
});
