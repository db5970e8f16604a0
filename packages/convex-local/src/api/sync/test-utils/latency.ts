/**
 * Measures mutation → other client's update latency through the official ConvexClient: client B
 * runs `messages:send`, client A is subscribed to the channel; the time from B's call to A's
 * onUpdate callback, over `runs` sequential mutations. For benchmarks, not asserted in tests.
 */
import { ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";
import WebSocket from "ws";
import { startHarness } from "./harness.js";

export async function measureUpdateLatency(runs = 300): Promise<{ medianMs: number; p90Ms: number; p99Ms: number; runs: number }> {
  const h = await startHarness();
  const options = { webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket, skipConvexDeploymentUrlCheck: true, logger: false as const };
  const a = new ConvexClient(h.url, options);
  const b = new ConvexClient(h.url, options);
  try {
    let onLength: ((n: number) => void) | undefined;
    a.onUpdate(anyApi.messages.list, { channel: "latency" }, (rows: string[]) => onLength?.(rows.length));
    await a.query(anyApi.messages.list, { channel: "latency" });
    const samples: number[] = [];
    for (let i = 0; i < runs + 20; i++) {
      const seen = new Promise<void>((resolve) => {
        onLength = (n) => {
          if (n === i + 1) resolve();
        };
      });
      const start = performance.now();
      void b.mutation(anyApi.messages.send, { channel: "latency", body: `m${i}` });
      await seen;
      if (i >= 20) samples.push(performance.now() - start); // after warm-up
    }
    samples.sort((x, y) => x - y);
    const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
    return { medianMs: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), runs };
  } finally {
    await Promise.all([a.close(), b.close()]);
    await h.cleanup();
  }
}
