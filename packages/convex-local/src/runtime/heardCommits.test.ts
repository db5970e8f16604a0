import { afterEach, describe, expect, it, vi } from "vitest";
import { HeardCommits } from "./heardCommits.js";

describe("HeardCommits", () => {
  afterEach(() => vi.useRealTimers());

  it("answers at once for commits heard of, and waits for a later one until the backend hears of it", async () => {
    let latest = 10n;
    const heard = new HeardCommits({ lastCommitTs: () => latest });
    expect(heard.through(10n)).toBeUndefined();
    const order: string[] = [];
    const through12 = heard.through(12n)!.then(() => order.push("12"));
    const through15 = heard.through(15n)!.then(() => order.push("15"));
    latest = 12n;
    heard.advanced();
    await through12;
    expect(order).toEqual(["12"]);
    latest = 20n;
    heard.advanced();
    await through15;
    expect(order).toEqual(["12", "15"]);
  });

  it("stops waiting after a second for a commit nobody announces", async () => {
    vi.useFakeTimers();
    const heard = new HeardCommits({ lastCommitTs: () => 1n });
    let done = false;
    void heard.through(2n)!.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });
});
