/**
 * The import worker is a process whose end fails its import alone: a `.json` array over Convex's
 * 16 MiB is refused before it is read, one that fills the worker's heap (made small here through
 * `CONVEX_LOCAL_IMPORT_HEAP_MB`) and a worker killed while it writes each fail the import with a
 * clear error, nothing imported, no hidden table left, and the backend answers queries after. The
 * worker keeps the backend's scheduling policy (it runs no user code; runtime processes run under
 * SCHED_BATCH).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Storage } from "../../src/storage/index.js";
import { deployFixture, waitFor, type TestDeployment } from "../harness.js";
import { failedImport } from "./importHelpers.js";

const api = anyApi;
let deployment: TestDeployment;
const scratch = mkdtempSync(path.join(tmpdir(), "convex-local-import-bounds-"));

beforeAll(async () => {
  deployment = await deployFixture("snapshot");
  await deployment.cli(["import", "--table", "ticks", file("seed.jsonl", '{"n":-1}\n'), "--yes"]);
}, 240_000);

afterAll(async () => {
  await deployment?.cleanup();
});

function file(name: string, text: string): string {
  const at = path.join(scratch, name);
  writeFileSync(at, text);
  return at;
}

/** A `.json` array of `{"n": i}` documents, as long as it takes to reach `bytes`. */
function ticksArray(name: string, bytes: number): string {
  const items: string[] = [];
  let length = 2;
  for (let n = 0; length < bytes; n++) {
    const item = `{"n":${n}}`;
    items.push(item);
    length += item.length + 1;
  }
  return file(name, `[${items.join(",")}]`);
}

function hiddenTables(storage: Storage): string[] {
  return storage.listTables().map(({ name }) => name).filter((name) => name.startsWith("_hidden/"));
}

/** Runs `work` with the import worker's heap set to `heapMb`. */
async function withImportHeap<T>(heapMb: number, work: () => Promise<T>): Promise<T> {
  process.env.CONVEX_LOCAL_IMPORT_HEAP_MB = String(heapMb);
  try {
    return await work();
  } finally {
    delete process.env.CONVEX_LOCAL_IMPORT_HEAP_MB;
  }
}

/** The failed import left `ticks` as it was and no hidden table, and the backend answers a query. */
async function nothingImported(): Promise<void> {
  const storage = deployment.backend.storage;
  await waitFor(() => hiddenTables(storage).length === 0, 60_000);
  expect(storage.countDocuments("ticks")).toBe(1);
  expect(await new ConvexHttpClient(deployment.backend.url).query(api.data.firstTicks, {})).toEqual({ first: -1, count: 1 });
}

/** The fields of /proc/<pid>/stat from the third (the state) on. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** The scheduling policy of a Linux process: field 41 of /proc/<pid>/stat (0 normal, 3 batch). */
function policyOf(pid: number): number {
  return Number(statFields(pid)[38]);
}

/** The process ids of this process's children whose command line names `entry`. */
function childrenRunning(entry: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return Number(statFields(pid)[1]) === process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(entry);
      } catch {
        return false; // gone while listed
      }
    });
}

describe("a .json array", () => {
  it("over Convex's 16 MiB is refused before it is read, with Convex's text", async () => {
    const tooLarge = ticksArray("too-large.json", 2 ** 24 + 100);
    expect(await failedImport(deployment.cli, ["--table", "ticks", "--replace", tooLarge])).toMatch(/ticks \(JSON\): Import is too large for JSON \(\d+ bytes > maximum 16 MiB\)\. Consider converting data to JSONLines/);
    await nothingImported();
  }, 120_000);

  it("that fills the import worker's heap fails that import alone, saying to use JSONL", async () => {
    const large = ticksArray("large.json", 15 * 2 ** 20);
    await withImportHeap(32, async () => {
      expect(await failedImport(deployment.cli, ["--table", "ticks", "--replace", large])).toMatch(
        /ticks \(JSON\): The import ran out of memory \(32 MiB\) reading the JSON array, which is read whole: nothing was imported\. Convert the data to JSONLines/,
      );
      await nothingImported();
      // The same heap holds a small array: the large one filled it.
      await deployment.cli(["import", "--table", "ticks", "--append", file("small.json", '[{"n":0},{"n":1}]'), "--yes"]);
    });
    expect(deployment.backend.storage.countDocuments("ticks")).toBe(3);
    await deployment.cli(["import", "--table", "ticks", "--replace", file("seed.jsonl", '{"n":-1}\n'), "--yes"]);
  }, 120_000);
});

describe("an import worker killed while it writes", () => {
  it("fails its import, with nothing imported and the backend serving", async () => {
    const storage = deployment.backend.storage;
    const ticks = file("ticks.jsonl", Array.from({ length: 100_000 }, (_, n) => `{"n":${n}}\n`).join(""));
    const importing = failedImport(deployment.cli, ["--table", "ticks", "--replace", ticks]);
    // Its first batches are in the hidden table: the worker is writing.
    await waitFor(() => hiddenTables(storage).some((table) => storage.countDocuments(table) > 0), 120_000);
    const workers = childrenRunning("importWorker");
    expect(workers).toHaveLength(1);
    // It runs no user code: it keeps the backend's scheduling policy (runtime processes run under SCHED_BATCH).
    expect(policyOf(workers[0]!)).toBe(policyOf(process.pid));
    process.kill(workers[0]!, "SIGKILL");
    expect(await importing).toMatch(/The import worker ended \(signal SIGKILL\) before it finished: nothing was imported/);
    await nothingImported();
  }, 240_000);
});
