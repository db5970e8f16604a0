import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { batchScheduler, RuntimeProcess } from "./runtimeProcess.js";

const directory = mkdtempSync(path.join(tmpdir(), "runtime-process-test-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** A runtime process whose body is `source` (an ES module with `process.send` available). */
function start(source: string, heapMb = 96): RuntimeProcess {
  const file = path.join(directory, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, source);
  return new RuntimeProcess({ url: pathToFileURL(file), execArgv: [] }, { heapMb, lockedDown: false, env: { GREETING: "hi" } });
}

/** The scheduling policy of a Linux process: field 41 of /proc/<pid>/stat (0 normal, 3 batch). */
function policyOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[41 - 3]);
}

describe("RuntimeProcess", () => {
  it("carries messages both ways with V8's serializer, and the child sees only the environment it was given", async () => {
    const child = start(`process.on("message", (m) => process.send({ echo: m, greeting: process.env.GREETING, path: process.env.PATH ?? null }));`);
    const reply = new Promise((resolve) => (child.onMessage = resolve));
    child.hold(true);
    child.send({ ts: 12n, key: new Uint8Array([1, 2, 3]) });
    expect(await reply).toEqual({ echo: { ts: 12n, key: new Uint8Array([1, 2, 3]) }, greeting: "hi", path: null });
    child.kill();
    expect((await child.exited).reason).toBe("signal SIGKILL");
  });

  it.runIf(process.platform === "linux" && existsSync("/usr/bin/chrt"))("runs the child under SCHED_BATCH, so its wake-ups do not preempt the backend", async () => {
    expect(batchScheduler()).toBeDefined();
    const child = start(`process.send("up"); setInterval(() => {}, 1000);`);
    await new Promise((resolve) => (child.onMessage = resolve));
    expect(policyOf(child.pid!)).toBe(3);
    expect(policyOf(process.pid)).toBe(0);
    child.kill();
    await child.exited;
  });

  it("tells a child that filled its heap from one that failed otherwise, and keeps V8's report off the backend's stderr", async () => {
    const printed: string[] = [];
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation((text) => printed.push(String(text)) > 0);
    try {
      const grown = start(`console.error("starting"); const a = []; for (let i = 0; ; i++) a.push(i + 0.5);`, 16);
      grown.hold(true);
      expect(await grown.exited).toMatchObject({ outOfMemory: true });
      const failed = start(`process.exitCode = 3;`);
      failed.hold(true);
      expect(await failed.exited).toEqual({ outOfMemory: false, reason: "exit code 3" });
    } finally {
      stderr.mockRestore();
    }
    expect(printed).toEqual(["starting\n"]);
  });
});
