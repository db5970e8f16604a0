/**
 * Auth.js's own adapter suite (`runBasicTests`, vendored unchanged in
 * `src/testing/authjs-adapter-suite`, WebAuthn methods included) against `ConvexAdapter` with its
 * default transport, on the fixture app deployed to `convex-local`. The suite's `db` readers read the
 * stored documents directly (the fixture's internal `inspect:table`, called with the admin key) and
 * give them Auth.js's shape: `_id` as `id`, epoch milliseconds as `Date`, provider extras inline.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Adapter } from "@auth/core/adapters";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ConvexAdapter } from "./index.js";
import type { AuthTableName } from "../convex/index.js";
import { TEST_SECRET } from "../testing/convexTestApp.js";
import { startFixtureDeployment, type FixtureDeployment } from "../testing/fixtureDeployment.js";

const SUITE_FILE = fileURLToPath(new URL("../testing/authjs-adapter-suite/adapter.ts", import.meta.url));

/** The part of the suite's `TestOptions` used here (the suite file itself is not type-checked, see below). */
interface SuiteOptions {
  adapter: Adapter;
  testWebAuthnMethods: boolean;
  db: {
    user(id: string): Promise<unknown>;
    session(sessionToken: string): Promise<unknown>;
    account(key: { provider: string; providerAccountId: string }): Promise<unknown>;
    verificationToken(key: { identifier: string; token: string }): Promise<unknown>;
    authenticator(credentialID: string): Promise<unknown>;
  };
}

// Loaded by path, so tsc does not check it: written for next-auth's vitest, its `maybeTest` helper does not
// type-check against vitest 3's `test` overloads (it runs unchanged).
const { runBasicTests } = (await import(SUITE_FILE)) as { runBasicTests(options: SuiteOptions): Promise<void> };

/** The git blob id of next-auth's packages/utils/adapter.ts at the vendored commit (see its README). */
const SUITE_BLOB_ID = "ed6b67284848438a29343f0a78e33f00f7f935e1";

let deployment: FixtureDeployment | undefined;

// Registered before the suite's own hooks, so the deployment is up when they run.
beforeAll(async () => {
  deployment = await startFixtureDeployment();
}, 180_000);

afterAll(async () => {
  await deployment?.close();
});

test("the vendored suite is next-auth's file, unchanged", () => {
  const text = readFileSync(SUITE_FILE);
  const blobId = createHash("sha1").update(`blob ${text.length}\0`).update(text).digest("hex");
  expect(blobId).toBe(SUITE_BLOB_ID);
});

type Stored = Record<string, unknown>;

const DATE_FIELDS = ["emailVerified", "expires"];

/** A stored document as Auth.js models it, without going through the adapter's own conversions. */
function asAuthjsRecord(doc: Stored, { withId = true } = {}): Stored {
  const { _id, _creationTime: _ignored, extra, ...fields } = doc;
  const record: Stored = { ...(extra as Stored | undefined), ...fields };
  for (const field of DATE_FIELDS) {
    if (typeof record[field] === "number") record[field] = new Date(record[field] as number);
  }
  return withId ? { id: _id, ...record } : record;
}

async function findStored(table: AuthTableName, matches: (doc: Stored) => boolean, options?: { withId: boolean }) {
  if (!deployment) throw new Error("the fixture deployment is not running");
  const docs = await deployment.adminQuery<Stored[]>("inspect:table", { name: table });
  const found = docs.find(matches);
  return found === undefined ? null : asAuthjsRecord(found, options);
}

await runBasicTests({
  // `url` is a getter: the adapter reads it at each call, once the deployment is up.
  adapter: ConvexAdapter({
    get url() {
      return deployment?.backend.url;
    },
    secret: TEST_SECRET,
  }),
  testWebAuthnMethods: true,
  db: {
    user: (id) => findStored("users", (doc) => doc._id === id),
    session: (sessionToken) => findStored("sessions", (doc) => doc.sessionToken === sessionToken),
    account: ({ provider, providerAccountId }) =>
      findStored("accounts", (doc) => doc.provider === provider && doc.providerAccountId === providerAccountId),
    verificationToken: ({ identifier, token }) =>
      findStored("verificationTokens", (doc) => doc.identifier === identifier && doc.token === token, { withId: false }),
    authenticator: (credentialID) => findStored("authenticators", (doc) => doc.credentialID === credentialID),
  },
});
