/**
 * Serializability under contention, through the official clients: read-modify-write mutations
 * fired concurrently from many clients never lose an update, and racing "insert if absent"
 * mutations leave exactly one document — over HTTP and over the sync WebSocket.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import WebSocket from "ws";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
const CLIENTS = 10;
const INCREMENTS = 200;
const RACERS = 50;

let deployment: TestDeployment;
let http: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture("reactivity");
  http = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

interface Transport {
  name: string;
  open(): { mutation(ref: unknown, args: Record<string, unknown>): Promise<unknown>; close(): Promise<void> | void };
}

const transports: Transport[] = [
  {
    name: "HTTP (ConvexHttpClient)",
    open: () => {
      const client = new ConvexHttpClient(deployment.backend.url);
      return { mutation: (ref, args) => client.mutation(ref as never, args as never), close: () => undefined };
    },
  },
  {
    name: "WebSocket (ConvexClient)",
    open: () => {
      const client = new ConvexClient(deployment.backend.url, {
        webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
        skipConvexDeploymentUrlCheck: true,
        logger: false,
      });
      return { mutation: (ref, args) => client.mutation(ref as never, args as never), close: () => client.close() };
    },
  },
];

describe.each(transports)("over $name", (transport) => {
  it(`${INCREMENTS} concurrent increments from ${CLIENTS} clients end at exactly ${INCREMENTS}`, async () => {
    const name = `counter ${transport.name}`;
    const clients = Array.from({ length: CLIENTS }, () => transport.open());
    try {
      const results = await Promise.all(
        Array.from({ length: INCREMENTS }, (_, i) => clients[i % CLIENTS]!.mutation(api.counters.increment, { name })),
      );
      expect(await http.query(api.counters.get, { name })).toBe(INCREMENTS);
      // Each increment saw a distinct predecessor: the values returned are exactly 1..200.
      expect([...(results as number[])].sort((a, b) => a - b)).toEqual(Array.from({ length: INCREMENTS }, (_, i) => i + 1));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });

  it(`${RACERS} racing "insert if absent" calls leave exactly one document`, async () => {
    const key = `claim ${transport.name}`;
    const clients = Array.from({ length: CLIENTS }, () => transport.open());
    try {
      const results = await Promise.all(
        Array.from({ length: RACERS }, (_, i) => clients[i % CLIENTS]!.mutation(api.claims.claimIfAbsent, { key, owner: `racer ${i}` })),
      );
      expect(results.filter((won) => won === true)).toHaveLength(1);
      const claims = (await http.query(api.claims.byKey, { key })) as { owner: string }[];
      expect(claims).toHaveLength(1);
      expect(claims[0]!.owner).toBe(`racer ${results.indexOf(true)}`);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });
});
