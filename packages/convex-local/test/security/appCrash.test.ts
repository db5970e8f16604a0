/**
 * Issue #13 finding 2 (and #14): no app bug may end the backend. Each crasher below ends a plain
 * Node process; against convex-local it fails (or, for a query or mutation, is reported against)
 * its own call only, and the next call of another function works. Node actions run in executor
 * processes of their own (runtime/actionExecution/), so a crash there fails the action as Convex's
 * Node executor reports it and the process is replaced.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { securityTarget, underAttack, type SecurityTarget } from "./target.js";

const target = securityTarget();

// The first calls of a fresh server compile its isolates: not what the control latency measures.
beforeAll(async () => {
  expect(await call("query", "control:ping", { n: 1 })).toMatchObject({ status: "success" });
  expect(await call("action", "crashers:healthy")).toMatchObject({ status: "success" });
  expect(await call("action", "nodeCrashers:healthy")).toMatchObject({ status: "success" });
});

type Answer = { status: "success"; value: unknown } | { status: "error"; errorMessage: string };

async function call(kind: "query" | "mutation" | "action", path: string, args: Record<string, unknown> = {}): Promise<Answer> {
  const response = await fetch(`${target.url}/api/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path, args, format: "json" }),
  });
  return (await response.json()) as Answer;
}

/** Runs one crasher under the control client, then checks another action still runs. */
async function crash(kind: "query" | "mutation" | "action", path: string): Promise<{ answer: Answer; printed: string }> {
  const before = target.output().length;
  const { result } = await underAttack(target, () => call(kind, path));
  expect(await call("action", "crashers:healthy")).toMatchObject({ status: "success", value: 7 });
  expect(await call("action", "nodeCrashers:healthy")).toMatchObject({ status: "success", value: true });
  return { answer: result, printed: printedSince(target, before) };
}

function printedSince(server: SecurityTarget, offset: number): string {
  return server.output().slice(offset);
}

function expectError(answer: Answer, firstLine: string): void {
  expect(answer.status).toBe("error");
  const message = (answer as { errorMessage: string }).errorMessage;
  // The API prefixes `[Request ID: …] Server Error`; the function's own error follows.
  expect(message.split("\n"), message).toContain(firstLine);
}

describe("an app bug fails its own call, never the backend", () => {
  it("an unawaited rejected promise in a query: the result stands, the rejection is logged", async () => {
    const before = target.output().length;
    const { answer } = await crash("query", "crashers:rejectInQuery");
    expect(answer).toMatchObject({ status: "success", value: "query returned" });
    // The worker reports it on its stderr, which reaches the backend's output beside, not before, the reply.
    await expect.poll(() => printedSince(target, before)).toContain("Uncaught Error: query side chain failed");
  });

  it("an unawaited rejected promise in a mutation: the result stands, the rejection is logged", async () => {
    const before = target.output().length;
    const { answer } = await crash("mutation", "crashers:rejectInMutation");
    expect(answer).toMatchObject({ status: "success", value: "mutation returned" });
    // The worker reports it on its stderr, which reaches the backend's output beside, not before, the reply.
    await expect.poll(() => printedSince(target, before)).toContain("Uncaught Error: mutation side chain failed");
  });

  it("an unawaited rejected promise in an action fails that action", async () => {
    const { answer } = await crash("action", "crashers:rejectInAction");
    expectError(answer, "Uncaught Error: action side chain failed");
  });

  it("a setTimeout callback that throws fails its action", async () => {
    const { answer } = await crash("action", "crashers:throwInTimer");
    expectError(answer, "Uncaught Error: timer callback failed");
  });

  it("timers still pending when an action returns are cancelled, as its isolate is gone on Convex: the result stands", async () => {
    const before = target.output().length;
    expect((await crash("action", "crashers:throwAfterReturn")).answer).toMatchObject({ status: "success", value: "action returned" });
    expect((await crash("action", "crashers:leaveInterval")).answer).toMatchObject({ status: "success", value: "action returned" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Neither callback ever ran (an interval left behind used to run, and keep its isolate, for good).
    expect(printedSince(target, before)).not.toMatch(/timer callback failed after the action|interval still running after the action/);
  });

  it("void ctx.runMutation(...) of a failing mutation fails the action", async () => {
    const { answer } = await crash("action", "crashers:voidRunMutation");
    expect(answer.status).toBe("error");
    expect((answer as { errorMessage: string }).errorMessage).toContain("the mutation failed");
  });

  it("an unawaited fetch that fails fails the action", async () => {
    const { answer } = await crash("action", "crashers:voidFetch");
    expectError(answer, "Uncaught TypeError: fetch failed");
  });

  it("a Node action's fs callback that throws fails that action", async () => {
    const { answer } = await crash("action", "nodeCrashers:throwInFsCallback");
    expectError(answer, "Uncaught uncaughtException: fs callback failed");
  });

  it("a Node action's unhandled 'error' event fails that action", async () => {
    const { answer } = await crash("action", "nodeCrashers:unhandledErrorEvent");
    expectError(answer, "Uncaught uncaughtException: nobody listened");
  });

  it("an unawaited rejected promise in a Node action fails that action", async () => {
    const { answer } = await crash("action", "nodeCrashers:rejectInNodeAction");
    expectError(answer, "Uncaught unhandledRejection: node side chain failed");
  });

  it("an unawaited rejection of a promise Node made fails that Node action, as any rejection in Convex's Node executor process does", async () => {
    const { answer } = await crash("action", "nodeCrashers:rejectHostPromise");
    expectError(answer, "Uncaught unhandledRejection: ENOENT: no such file or directory, open '/nonexistent/convex-local-crasher'");
  });

  it("process.exit in a Node action fails that action", async () => {
    const { answer } = await crash("action", "nodeCrashers:exitProcess");
    expectError(answer, "Uncaught process.exit: process.exit() called with exit code 3");
  });
});
