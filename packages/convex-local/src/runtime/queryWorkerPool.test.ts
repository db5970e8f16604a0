import { describe, expect, it } from "vitest";
import { growthWaitMs } from "./queryWorkerPool.js";

/** A call start `msAgo` before `now`, as a worker's progress file records it (ms since the epoch). */
const startedAgo = (now: number, msAgo: number) => performance.timeOrigin + now - msAgo;

describe("when the query worker pool grows", () => {
  const now = 10_000;

  it("grows once the queue has waited 50 ms and every worker has been in one call as long", () => {
    expect(growthWaitMs(now - 60, [startedAgo(now, 900), startedAgo(now, 55)], now)).toBeLessThanOrEqual(0);
  });

  it("waits while the oldest queued query has waited less than 50 ms", () => {
    expect(growthWaitMs(now - 10, [startedAgo(now, 900), startedAgo(now, 900)], now)).toBeCloseTo(40);
  });

  it("does not grow while a worker keeps finishing calls, however long the queue has waited", () => {
    // Saturated cores: the queue waits, but one worker started its call 5 ms ago.
    expect(growthWaitMs(now - 500, [startedAgo(now, 900), startedAgo(now, 5)], now)).toBeCloseTo(45);
    // A worker between two calls of its batch is not stuck either: checked again 50 ms later.
    expect(growthWaitMs(now - 500, [startedAgo(now, 900), undefined], now)).toBe(50);
  });
});
