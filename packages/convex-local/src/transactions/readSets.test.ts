import { describe, expect, test } from "vitest";
import { encodeIndexKey, rangeForPrefix, type IndexInfo } from "../storage/index.js";
import { rangeContains } from "../storage/keys.js";
import { ReadSetIndex, wholeTableWrite } from "./readSets.js";

const k = (...values: (string | number)[]) => encodeIndexKey(values);

describe("rangeContains", () => {
  test("bounds, inclusivity and unbounded sides", () => {
    const r = { lower: k("b"), lowerInclusive: true, upper: k("d"), upperInclusive: false };
    expect(rangeContains(r, k("a"))).toBe(false);
    expect(rangeContains(r, k("b"))).toBe(true);
    expect(rangeContains(r, k("c", 1))).toBe(true);
    expect(rangeContains(r, k("d"))).toBe(false);
    expect(rangeContains({ ...r, upperInclusive: true }, k("d"))).toBe(true);
    expect(rangeContains({ ...r, lowerInclusive: false }, k("b"))).toBe(false);
    expect(rangeContains({ lowerInclusive: true, upperInclusive: false }, k("anything"))).toBe(true);
    const prefix = rangeForPrefix(["chan"]);
    expect(rangeContains(prefix, k("chan", 5, "id"))).toBe(true);
    expect(rangeContains(prefix, k("chan2", 5, "id"))).toBe(false);
  });
});

describe("ReadSetIndex", () => {
  const indexes: IndexInfo[] = [
    { name: "by_id", fields: ["_id"], keyFields: ["_id"] },
    { name: "by_creation_time", fields: ["_creationTime"], keyFields: ["_creationTime", "_id"] },
    { name: "by_channel", fields: ["channel"], keyFields: ["channel", "_creationTime", "_id"] },
  ];
  const lookup = (table: string) => (table === "messages" ? indexes : undefined);
  const doc = (id: string, channel: string) => JSON.stringify({ _id: id, _creationTime: 1, channel });

  test("a write hits readers of a range containing its old or new key, in any index", () => {
    const index = new ReadSetIndex<string>();
    index.set("chanA", [{ table: "messages", index: "by_channel", range: rangeForPrefix(["a"]) }]);
    index.set("chanB", [{ table: "messages", index: "by_channel", range: rangeForPrefix(["b"]) }]);
    const point = k("id1");
    index.set("get1", [{ table: "messages", index: "by_id", range: { lower: point, lowerInclusive: true, upper: point, upperInclusive: true } }]);
    index.set("other", [{ table: "notes", index: "by_id", range: { lowerInclusive: true, upperInclusive: false } }]);
    const hits = (before: string | null, after: string | null, id = "id9") =>
      [...index.affected([{ table: "messages", id, before, after }], lookup)].sort();

    expect(hits(null, doc("id9", "a"))).toEqual(["chanA"]);
    expect(hits(doc("id9", "a"), doc("id9", "b"))).toEqual(["chanA", "chanB"]); // moved between channels
    expect(hits(doc("id1", "c"), null, "id1")).toEqual(["get1"]);
    expect(hits(null, doc("id9", "z"))).toEqual([]);
    // Unknown indexes (e.g. table deleted): every reader of the table.
    expect([...index.affected([{ table: "notes", id: "n", before: null, after: "{}" }], lookup)]).toEqual(["other"]);
    // The whole table written (a snapshot import swapped it in): every reader of it, of any index.
    expect([...index.affected([wholeTableWrite("messages")], lookup)].sort()).toEqual(["chanA", "chanB", "get1"]);

    index.delete("chanA");
    expect(hits(null, doc("id9", "a"))).toEqual([]);
    index.set("chanB", []);
    expect(hits(null, doc("id9", "b"))).toEqual([]);
    expect(index.size).toBe(3);
  });

  test("a read set given again, as an equal copy, stays filed; one that differs in any bound is refiled", () => {
    const index = new ReadSetIndex<string>();
    const between = (lower: string, upper: string) => [{ table: "messages", index: "by_channel", range: { lower: k(lower), lowerInclusive: true, upper: k(upper), upperInclusive: false } }];
    const hits = (channel: string) => [...index.affected([{ table: "messages", id: "id9", before: null, after: doc("id9", channel) }], lookup)];
    index.set("sub", [...between("a", "c"), { table: "messages", index: "by_channel", range: rangeForPrefix(["x"]) }]);
    index.set("sub", [...between("a", "c"), { table: "messages", index: "by_channel", range: rangeForPrefix(["x"]) }]);
    expect(hits("b")).toEqual(["sub"]);
    expect(hits("x")).toEqual(["sub"]);
    index.set("sub", between("a", "c"));
    expect(hits("x")).toEqual([]);
    index.set("sub", between("a", "b"));
    expect(hits("b")).toEqual([]);
    // The written key itself as the lower bound: only inclusivity differs.
    const from = (lowerInclusive: boolean) => [{ table: "messages", index: "by_channel", range: { lower: k("b", 1, "id9"), lowerInclusive, upper: k("c"), upperInclusive: false } }];
    index.set("sub", from(true));
    expect(hits("b")).toEqual(["sub"]);
    index.set("sub", from(false));
    expect(hits("b")).toEqual([]);
    expect(index.size).toBe(1);
  });

  test("finds whole-prefix readers by the written key's prefixes and checks other ranges one by one", () => {
    const index = new ReadSetIndex<string>();
    index.set("everything", [{ table: "messages", index: "by_channel", range: rangeForPrefix([]) }]);
    index.set("chanA", [{ table: "messages", index: "by_channel", range: rangeForPrefix(["a"]) }]);
    // Not a whole prefix: channel "a" after a creation time of 5 (what a `gt` bound or a page reads).
    index.set("chanA-late", [{ table: "messages", index: "by_channel", range: { lower: k("a", 5), lowerInclusive: false, upper: rangeForPrefix(["a"]).upper, upperInclusive: false } }]);
    const write = (channel: string, creationTime: number) =>
      [...index.affected([{ table: "messages", id: "m", before: null, after: JSON.stringify({ _id: "m", _creationTime: creationTime, channel }) }], lookup)].sort();
    expect(write("a", 9)).toEqual(["chanA", "chanA-late", "everything"]);
    expect(write("a", 1)).toEqual(["chanA", "everything"]);
    // "ab" shares the byte "a" with the prefix of channel "a" but is another value: no hit.
    expect(write("ab", 9)).toEqual(["everything"]);
    for (const reader of ["everything", "chanA", "chanA-late"]) index.delete(reader);
    expect(index.size).toBe(0);
    expect(write("a", 9)).toEqual([]);
  });
});
