/**
 * Queries that share a worker's batch (issue #14): one query worker here (`queryWorkers: 1`), so a
 * `/api/query_batch` of a looping query and ordinary ones runs in one batch. The looping one passes
 * the 1 s limit, which ends the worker's process; it alone gets Convex's error, and the others run
 * again on the replacement. A query queued behind a looping one in another request gets a worker
 * of its own.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startBackend } from "../src/api/backend.js";
import { childProcesses, deployFixture, type TestDeployment } from "./harness.js";

let deployment: TestDeployment;

beforeAll(async () => {
  deployment = await deployFixture("isolation");
  await deployment.backend.close();
  deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0, queryWorkers: 1 });
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

it("fails only the query that passed its time limit; the others in its batch run again and answer", async () => {
  const pings = [1, 2, 3, 4].map((n) => ({ path: "control:ping", args: { n }, format: "json" }));
  const response = await fetch(`${deployment.backend.url}/api/query_batch`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ queries: [{ path: "syncRunaways:spinQuery", args: {}, format: "json" }, ...pings] }),
  });
  expect(response.status).toBe(200);
  const { results } = (await response.json()) as { results: { status: string; value?: unknown; errorMessage?: string }[] };
  expect(results[0]).toMatchObject({ status: "error", errorMessage: expect.stringContaining("Function execution timed out (maximum duration: 1s)") });
  expect(results.slice(1)).toEqual([1, 2, 3, 4].map((n) => expect.objectContaining({ status: "success", value: n })));
});

it.runIf(process.platform === "linux")("starts another worker for a query queued behind one stuck in a looping call, which answers it", async () => {
  const query = (path: string, args: object) =>
    fetch(`${deployment.backend.url}/api/query`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ path, args, format: "json" }) }).then(
      (response) => response.json() as Promise<{ status: string; value?: unknown; errorMessage?: string }>,
    );
  const [first, ...others] = childProcesses("queryWorker");
  expect(others).toEqual([]);
  let spinning = true;
  // Another worker while the first still runs the loop (a worker replacing it after its kill would not count).
  let grew = false;
  const spin = query("syncRunaways:spinQuery", {}).finally(() => (spinning = false));
  await new Promise((resolve) => setTimeout(resolve, 100)); // the loop has its worker
  const ping = query("control:ping", { n: 7 });
  while (spinning && !grew) {
    const workers = childProcesses("queryWorker");
    grew = workers.includes(first!) && workers.length > 1;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(await spin).toMatchObject({ status: "error", errorMessage: expect.stringContaining("Function execution timed out") });
  expect(await ping).toMatchObject({ status: "success", value: 7 });
  expect(grew).toBe(true);
});
