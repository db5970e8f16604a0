import { makeFunctionReference } from "convex/server";
import { describe, expect, test, vi } from "vitest";
import { ADAPTER_MUTATIONS, ADAPTER_QUERIES, ErrorCode } from "../shared/protocol.js";
import { VALID_ADAPTER_ARGS } from "../testing/adapterArgs.js";
import { TEST_SECRET, startFixtureApp } from "../testing/convexTestApp.js";
import { constantTimeEqual } from "./secret.js";

const FUNCTIONS = [
  ...ADAPTER_QUERIES.map((name) => ({ name, kind: "query" as const })),
  ...ADAPTER_MUTATIONS.map((name) => ({ name, kind: "mutation" as const })),
];

function call(kind: "query" | "mutation", name: string, args: Record<string, unknown>) {
  const { t, readTable } = startFixtureApp();
  const result =
    kind === "query"
      ? t.query(makeFunctionReference<"query">(`authAdapter:${name}`), args)
      : t.mutation(makeFunctionReference<"mutation">(`authAdapter:${name}`), args);
  return { result, readTable };
}

const errorCode = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (error: { data?: { code?: string } }) => error.data?.code ?? "other error",
  );

describe.each(FUNCTIONS)("secret check of $name", ({ name, kind }) => {
  const args = VALID_ADAPTER_ARGS[name];

  test("has test arguments", () => expect(args).toBeDefined());

  test("refuses a call without a secret", async () => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    await expect(call(kind, name, args).result).rejects.toThrow(/secret/);
  });

  test.each([
    ["a wrong secret", "wrong-secret"],
    ["an empty secret", ""],
    ["a prefix of the secret", TEST_SECRET.slice(0, -1)],
    ["the secret with a suffix", `${TEST_SECRET}x`],
  ])("refuses %s", async (_label, secret) => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    const { result, readTable } = call(kind, name, { ...args, secret });
    expect(await errorCode(result)).toBe(ErrorCode.secretMismatch);
    expect(await readTable("users")).toEqual([]);
    expect(await readTable("verificationTokens")).toEqual([]);
  });

  test.each([
    ["unset", undefined],
    ["empty", ""],
  ])("refuses every secret when the deployment's is %s", async (_label, deploymentSecret) => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", deploymentSecret);
    for (const secret of ["", "anything", TEST_SECRET]) {
      const { result } = call(kind, name, { ...args, secret });
      expect(await errorCode(result)).toBe(ErrorCode.secretNotConfigured);
    }
  });

  test("accepts the right secret", async () => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    const code = await errorCode(call(kind, name, { ...args, secret: TEST_SECRET }).result);
    expect([ErrorCode.secretMismatch, ErrorCode.secretNotConfigured]).not.toContain(code);
  });

  test("never echoes either secret in its error", async () => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    const error = await call(kind, name, { ...args, secret: "caller-sent-this" }).result.catch(
      (e: unknown) => e,
    );
    const text = JSON.stringify({ message: (error as Error).message, data: (error as { data?: unknown }).data });
    expect(text).not.toContain(TEST_SECRET);
    expect(text).not.toContain("caller-sent-this");
  });
});

describe("constantTimeEqual", () => {
  test.each([
    ["", "", true],
    ["secret", "secret", true],
    ["héllo 🙂", "héllo 🙂", true],
    ["secret", "secreT", false],
    ["secret", "secret ", false],
    ["secret", "", false],
    ["", "secret", false],
    // Same UTF-16 length, different bytes.
    ["é", "e", false],
    ["\u0000", "", false],
  ])("%j vs %j is %s", (a, b, equal) => {
    expect(constantTimeEqual(a, b)).toBe(equal);
    expect(constantTimeEqual(b, a)).toBe(equal);
  });
});
