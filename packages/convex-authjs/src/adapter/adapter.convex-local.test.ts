/**
 * The adapter conformance suite against a real backend: the fixture Convex app is pushed to an
 * embedded `convex-local` with the official CLI, and the adapter talks to it over HTTP.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConvexAdapter } from "./index.js";
import { ADAPTER_MUTATIONS, ADAPTER_QUERIES, ErrorCode } from "../shared/protocol.js";
import { VALID_ADAPTER_ARGS } from "../testing/adapterArgs.js";
import { runAdapterConformance } from "../testing/adapterConformance.js";
import { TEST_SECRET } from "../testing/convexTestApp.js";
import { deployFixtureToConvexLocal, type FixtureDeployment } from "../testing/convexLocalApp.js";

let deployment: FixtureDeployment;

beforeAll(async () => {
  deployment = await deployFixtureToConvexLocal();
}, 180_000);

afterAll(async () => {
  await deployment?.close();
});

// The adapter's default transport (ConvexHttpClient for mutations, batched `/api/query_batch` queries).
runAdapterConformance("convex-local", () => ({
  adapter: ConvexAdapter({ url: deployment.backend.url, secret: TEST_SECRET }),
  readTable: (name) => deployment.adminQuery<Record<string, unknown>[]>("inspect:table", { name }),
}));

/** Calls an adapter function over the HTTP API as the adapter does (no admin key). */
async function callAdapterFunction(name: string, args: Record<string, unknown>): Promise<{ status: string; errorMessage?: string; errorData?: { code?: string } }> {
  const kind = (ADAPTER_QUERIES as readonly string[]).includes(name) ? "query" : "mutation";
  const response = await fetch(`${deployment.backend.url}/api/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: `authAdapter:${name}`, args, format: "json" }),
  });
  return (await response.json()) as { status: string; errorMessage?: string; errorData?: { code?: string } };
}

const STORED_TABLES = ["users", "accounts", "sessions", "verificationTokens", "authenticators"];

async function tableSizes(): Promise<number[]> {
  return await Promise.all(STORED_TABLES.map(async (name) => (await deployment.adminQuery<unknown[]>("inspect:table", { name })).length));
}

describe.each([...ADAPTER_QUERIES, ...ADAPTER_MUTATIONS])("adapter secret of %s on convex-local", (name) => {
  const args = VALID_ADAPTER_ARGS[name];

  test("refuses a missing, wrong, empty or near-miss secret and writes nothing", async () => {
    const before = await tableSizes();
    const missing = await callAdapterFunction(name, args);
    expect(missing.status).toBe("error");
    expect(missing.errorMessage).toMatch(/secret/);
    for (const secret of ["wrong-secret", "", TEST_SECRET.slice(0, -1), `${TEST_SECRET}x`]) {
      const refused = await callAdapterFunction(name, { ...args, secret });
      expect(refused).toMatchObject({ status: "error", errorData: { code: ErrorCode.secretMismatch } });
      expect(refused.errorMessage).not.toContain(TEST_SECRET);
    }
    expect(await tableSizes()).toEqual(before);
  });

  test("refuses every secret while the deployment's secret is unset", async () => {
    await deployment.setAdapterSecret(null);
    try {
      for (const secret of [TEST_SECRET, "", "anything"]) {
        expect(await callAdapterFunction(name, { ...args, secret })).toMatchObject({ status: "error", errorData: { code: ErrorCode.secretNotConfigured } });
      }
    } finally {
      await deployment.setAdapterSecret(TEST_SECRET);
    }
  });
});
