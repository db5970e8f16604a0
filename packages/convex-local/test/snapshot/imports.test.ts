/**
 * `npx convex import` of single tables (CSV, JSONL, JSON) and of a ZIP written exactly as Convex's
 * exporter writes it, each bad input refused with its file, row and problem and nothing changed,
 * and an export taken while writes go on holding one consistent snapshot.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import yauzl from "yauzl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeDocumentId, newInternalId } from "../../src/storage/index.js";
import { jsonToValue } from "../../src/storage/values.js";
import { deployFixture, type TestDeployment } from "../harness.js";
import { failedImport, writeZip } from "./importHelpers.js";

let deployment: TestDeployment;
const scratch = mkdtempSync(path.join(tmpdir(), "convex-local-import-"));

beforeAll(async () => {
  deployment = await deployFixture("snapshot");
}, 240_000);

afterAll(async () => {
  await deployment?.cleanup();
});

function file(name: string, text: string | Buffer): string {
  const at = path.join(scratch, name);
  writeFileSync(at, text);
  return at;
}

function rows(table: string): Record<string, unknown>[] {
  return [...deployment.backend.storage.scanIndex(table, "by_creation_time", { lowerInclusive: true, upperInclusive: false }, "asc")].map((row) => jsonToValue(JSON.parse(row.json)) as Record<string, unknown>);
}

describe("single-table imports", () => {
  it("imports CSV, numbers as floats, text as strings", async () => {
    await deployment.cli(["import", "--table", "values", file("values.csv", 'tag,value\nint,42\ntext,"hello, ""world"""\n'), "--yes"]);
    expect(rows("values").map(({ tag, value }) => [tag, value])).toEqual([["int", 42], ["text", 'hello, "world"']]);
  });

  it("appends JSON lines and replaces with a JSON array", async () => {
    await deployment.cli(["import", "--table", "values", "--append", file("more.jsonl", '{"tag":"line","value":[1,{"a":2}]}\n'), "--yes"]);
    expect(rows("values")).toHaveLength(3);
    await deployment.cli(["import", "--table", "values", "--replace", file("all.json", '[{"tag":"only","value":7}]'), "--yes"]);
    expect(rows("values").map(({ tag, value }) => [tag, value])).toEqual([["only", 7]]);
  });
});

describe("bad input is refused, naming file, row and problem, and nothing changes", () => {
  const unchanged = async (args: string[], expected: RegExp) => {
    const before = rows("values");
    expect(await failedImport(deployment.cli, args)).toMatch(expected);
    expect(rows("values")).toEqual(before);
  };

  it("a CSV row with a missing field", () =>
    unchanged(["--table", "values", "--replace", file("bad.csv", "tag,value\nok,1\nbroken\n")], /CSV row 2 \(line 3\) doesn't have all of the fields in the header/));

  it("a JSONL row that is not JSON", () =>
    unchanged(["--table", "values", "--append", file("bad.jsonl", '{"tag":"a","value":1}\n{"tag":\n')], /values \(JSONL\): Row 2 wasn't valid JSON/));

  it("a document the schema refuses", () =>
    unchanged(["--table", "values", "--append", file("schema.jsonl", '{"tag":"a","value":1}\n{"tag":5,"value":1}\n')], /Row 2: Failed to insert or update a document in table "values" because it does not match the schema/));

  it("a truncated ZIP", async () => {
    const whole = readFileSync(await writeZip(scratch, "whole.zip", { "values/documents.jsonl": '{"tag":"z","value":1}\n' }));
    await unchanged([file("truncated.zip", whole.subarray(0, whole.length - 30))], /invalid zip file/);
  });

  it("an unknown table type hint", async () =>
    unchanged([await writeZip(scratch, "hint.zip", { "values/documents.jsonl": '{"tag":"z","value":"1"}\n', "values/generated_schema.jsonl": '"{tag: string, value: int64}"\n' }), "--replace"], /values\/generated_schema.jsonl: line 1 is .*not "uniform"/));
});

describe("a ZIP written as Convex's exporter writes it", () => {
  it("decodes every value type, keeping ids and creation times", async () => {
    const number = deployment.backend.storage.tableNumber("values")!;
    const ids = [...Array(10).keys()].map((n) => encodeDocumentId(number, newInternalId(1_700_000_000_000 + n)));
    const id = (n: number) => ids[n]!;
    const nan = Buffer.from(new Float64Array([NaN]).buffer).toString("base64");
    const inf = Buffer.from(new Float64Array([Infinity]).buffer).toString("base64");
    const lines = [
      `{"_creationTime":1715000000000.5,"_id":"${id(1)}","tag":"int64","value":42}`,
      `{"_creationTime":1715000000001.0,"_id":"${id(2)}","tag":"float","value":3.0}`,
      `{"_creationTime":1715000000002.25,"_id":"${id(3)}","tag":"negzero","value":-0.0}`,
      `{"_creationTime":1715000000003.0,"_id":"${id(4)}","tag":"nan","value":{"$float":"${nan}"}}`,
      `{"_creationTime":1715000000004.0,"_id":"${id(5)}","tag":"inf","value":{"$float":"${inf}"}}`,
      `{"_creationTime":1715000000005.0,"_id":"${id(6)}","tag":"bytes","value":{"$bytes":"AAEC/w=="}}`,
      `{"_creationTime":1715000000006.0,"_id":"${id(7)}","tag":"nested","value":{"a":[1,2.5,"x",null,true],"b":{"c":-9223372036854775808}}}`,
      `{"_creationTime":1715000000007.0,"_id":"${id(8)}","tag":"huge","value":18446744073709551616}`,
      `{"_creationTime":1715000000008.0,"_id":"${id(9)}","tag":"exp","value":1e300}`,
    ];
    const zip = await writeZip(scratch, "convex.zip", {
      "README.md": "# Welcome to your Convex snapshot export!\n",
      "_tables/documents.jsonl": `{"name":"values","id":${number}}\n`,
      "values/documents.jsonl": `${lines.join("\n")}\n`,
      "values/generated_schema.jsonl": '"uniform"\n',
    });
    await deployment.cli(["import", zip, "--replace-all", "--yes"]);
    const byTag = new Map(rows("values").map((row) => [row.tag, row]));
    expect(byTag.get("int64")).toMatchObject({ _id: id(1), _creationTime: 1715000000000.5, value: 42n });
    expect(byTag.get("float")!.value).toBe(3);
    expect(Object.is(byTag.get("negzero")!.value, -0)).toBe(true);
    expect(byTag.get("nan")!.value).toBeNaN();
    expect(byTag.get("inf")!.value).toBe(Infinity);
    expect(new Uint8Array(byTag.get("bytes")!.value as ArrayBuffer)).toEqual(new Uint8Array([0, 1, 2, 255]));
    expect(byTag.get("nested")!.value).toEqual({ a: [1n, 2.5, "x", null, true], b: { c: -9223372036854775808n } });
    expect(byTag.get("huge")!.value).toBe(18446744073709551616);
    expect(byTag.get("exp")!.value).toBe(1e300);
  });
});

describe("an export while writes go on", () => {
  it("holds one consistent snapshot", async () => {
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) await deployment.backend.runner.mutation("data:tick", { n: written++ }, { identity: null, admin: true });
    })();
    while (written < 50) await new Promise((resolve) => setTimeout(resolve, 10));
    const zipPath = path.join(scratch, "during.zip");
    await deployment.cli(["export", "--path", zipPath]);
    writing = false;
    await writer;
    const exported = (await entryText(zipPath, "ticks/documents.jsonl")).trim().split("\n").map((line) => JSON.parse(line) as { n: number });
    const ns = exported.map(({ n }) => n).sort((a, b) => a - b);
    // Every tick up to the snapshot, none after it: a prefix of the writes, without gaps.
    expect(ns.length).toBeGreaterThan(0);
    expect(ns).toEqual([...ns.keys()]);
    expect(rows("ticks").length).toBeGreaterThanOrEqual(ns.length);
  });
});

function entryText(zipPath: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true }, (error, zip) => {
      if (error) return reject(error);
      zip.on("entry", (entry: yauzl.Entry) => {
        if (entry.fileName !== name) return zip.readEntry();
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        });
      });
      zip.on("end", () => reject(new Error(`${name} is not in the ZIP`)));
      zip.readEntry();
    });
  });
}
