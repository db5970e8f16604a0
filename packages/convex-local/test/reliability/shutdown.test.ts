/**
 * Graceful shutdown of `convex-local start` on SIGTERM: it stops accepting connections, finishes the
 * requests it already received, closes sync sockets with 1001 ("going away"), exits 0, and every
 * mutation it applied was acknowledged to its client.
 */
import { request } from "node:http";
import { expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import WebSocket from "ws";
import { deployForServerProcesses, stopServerProcess, streamWrites, untilAcknowledged, untilRefused } from "./serverProcess.js";

const api = anyApi;
const deployment = deployForServerProcesses();

it("finishes a mutation whose request arrived before SIGTERM, closes sync sockets with 1001 and exits 0", async () => {
  const server = await deployment.start();
  const socket = new WebSocket(`${server.url.replace("http", "ws")}/api/1.48.0/sync`);
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));

  // Headers and half of the body go out before the signal; the rest only once shutdown has begun.
  const body = JSON.stringify({ path: "entries:add", args: { batch: "sigterm", body: "in flight" }, format: "json" });
  const pending = request(`${server.url}/api/mutation`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
  });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    pending.once("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.once("end", () => resolve({ status: response.statusCode!, text: Buffer.concat(chunks).toString("utf8") }));
    });
    pending.once("error", reject);
  });
  const half = Math.floor(body.length / 2);
  pending.write(body.slice(0, half));
  await new Promise((resolve) => pending.once("socket", (s) => (s.connecting ? s.once("connect", resolve) : resolve(undefined))));

  server.child.kill("SIGTERM");
  await untilRefused(server.url);
  pending.end(body.slice(half));

  const { status, text } = await answer;
  expect(status).toBe(200);
  expect(JSON.parse(text)).toMatchObject({ status: "success" });
  expect(await closed).toBe(1001);
  expect(await server.exited).toBe(0);

  const restarted = await deployment.start();
  try {
    const ids = await new ConvexHttpClient(restarted.url).query(api.entries.idsOf, { batch: "sigterm" });
    expect(ids).toEqual([JSON.parse(text).value]);
  } finally {
    await stopServerProcess(restarted, "SIGTERM");
  }
}, 120_000);

it("loses no write when SIGTERM arrives during a stream of mutations: everything applied was acknowledged", async () => {
  const server = await deployment.start();
  const stream = streamWrites(server.url, "stream", 4);
  await untilAcknowledged(stream, 50);
  expect(await stopServerProcess(server, "SIGTERM")).toBe(0);
  await stream.done;

  const restarted = await deployment.start();
  try {
    const stored = await new ConvexHttpClient(restarted.url).query(api.entries.idsOf, { batch: "stream" });
    expect([...stored].sort()).toEqual([...stream.acknowledged].sort());
  } finally {
    await stopServerProcess(restarted, "SIGTERM");
  }
}, 120_000);
