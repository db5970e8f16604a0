import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { ConvexAdapter } from "../adapter/index.js";
import { AUTH_BASE_PATH, authjsClient } from "../testing/authjsHttp.js";
import { startFixtureApp, TEST_SECRET } from "../testing/convexTestApp.js";
import { DevMailbox, readDevMailbox } from "./index.js";

let dir: string;

beforeEach(() => {
  // The fixture's functions run in this process (convex-test) and read the deployment's secret here.
  vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
  dir = path.join(mkdtempSync(path.join(tmpdir(), "dev-mailbox-")), "mailbox");
});

afterEach(() => rmSync(path.dirname(dir), { recursive: true, force: true }));

function signInApp(log: string[] = []) {
  const { caller, readTable } = startFixtureApp();
  const client = authjsClient({
    providers: [DevMailbox({ dir, log: (line) => log.push(line) })],
    adapter: ConvexAdapter({ caller, secret: TEST_SECRET }),
  });
  return { client, readTable };
}

test("Auth.js's email sign-in delivers the link to the mailbox, and the link signs the user in", async () => {
  const log: string[] = [];
  const { client, readTable } = signInApp(log);
  const requested = await client.requestMagicLink("dev-mailbox", "ada@example.com");
  expect(requested.status).toBe(302);
  expect(requested.headers.get("location")).toBe(`http://localhost:3000${AUTH_BASE_PATH}/verify-request?provider=dev-mailbox&type=email`);

  const [message] = readDevMailbox(dir, "ada@example.com");
  expect(message.url).toMatch(new RegExp(`^http://localhost:3000${AUTH_BASE_PATH}/callback/dev-mailbox\\?`));
  expect(new Date(message.expires).getTime() - new Date(message.sentAt).getTime()).toBeCloseTo(15 * 60 * 1000, -4);
  expect(log).toEqual([`[dev mailbox] sign-in link for ada@example.com: ${message.url}`]);
  expect(await readTable("verificationTokens")).toHaveLength(1);
  // Owner-only: the links sign in whoever reads them.
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  for (const name of readdirSync(dir)) expect(statSync(path.join(dir, name)).mode & 0o777).toBe(0o600);

  const callback = await client.request(message.url);
  expect(callback.status).toBe(302);
  const session = (await (await client.request(`${AUTH_BASE_PATH}/session`)).json()) as { user?: { email: string } };
  expect(session.user?.email).toBe("ada@example.com");
  expect(await readTable("verificationTokens")).toHaveLength(0);
  expect(await readTable("sessions")).toHaveLength(1);
});

test("readDevMailbox: oldest first, filtered by address; an absent mailbox is empty", async () => {
  expect(readDevMailbox(dir)).toEqual([]);
  const { client } = signInApp();
  for (const email of ["a@example.com", "b@example.com", "a@example.com"]) await client.requestMagicLink("dev-mailbox", email);
  expect(readDevMailbox(dir).map((message) => message.to)).toEqual(["a@example.com", "b@example.com", "a@example.com"]);
  expect(readDevMailbox(dir, "a@example.com")).toHaveLength(2);
});
