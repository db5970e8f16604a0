import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CallProgress } from "./callProgress.js";

describe("CallProgress", () => {
  it("tells the backend which call the worker's side marked, and none once idle", () => {
    const backend = CallProgress.create();
    const worker = CallProgress.open(backend.path);
    expect(backend.runningCall()).toBeUndefined();
    const before = Date.now();
    worker.started(2);
    const running = backend.runningCall();
    expect(running?.index).toBe(2);
    expect(running!.startedAt).toBeGreaterThanOrEqual(before - 1);
    worker.idle();
    expect(backend.runningCall()).toBeUndefined();
    worker.close();
    backend.close();
  });

  it("removes each file, and the directory with its last file, once closed (closing twice is harmless)", () => {
    const first = CallProgress.create();
    const second = CallProgress.create();
    const directory = path.dirname(first.path);
    first.close();
    expect(existsSync(first.path)).toBe(false);
    expect(existsSync(directory)).toBe(true);
    second.close();
    second.close();
    expect(existsSync(directory)).toBe(false);
  });
});
