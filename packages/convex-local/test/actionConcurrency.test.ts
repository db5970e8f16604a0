/**
 * Issue #14: actions run concurrently, each in an executor of its own, off the main thread — 50
 * actions that each sleep 1 s finish together, against `convex-local start` as users run it (the
 * compiled package: its workers start as they do for users), while a control client's queries keep
 * their p95. Before, they shared the backend's one thread.
 */
import { expect, it } from "vitest";
import { securityTarget, underAttack } from "./security/target.js";

const target = securityTarget("isolation");

async function sleepAction(n: number): Promise<unknown> {
  const response = await fetch(`${target.url}/api/action`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: "runaways:sleep", args: { ms: 1000, n }, format: "json" }),
  });
  return await response.json();
}

it("runs 50 actions that each sleep 1 s together, and the control client's queries keep their p95", async () => {
  expect(await sleepAction(-1)).toEqual({ status: "success", value: -1 });
  const started = performance.now();
  const { result } = await underAttack(target, () => Promise.all(Array.from({ length: 50 }, (_, n) => sleepAction(n))));
  const elapsedMs = performance.now() - started;
  expect(result).toEqual(Array.from({ length: 50 }, (_, n) => ({ status: "success", value: n })));
  console.log(`50 concurrent 1 s actions took ${elapsedMs.toFixed(0)} ms`);
  expect(elapsedMs).toBeLessThan(10_000);
}, 60_000);
