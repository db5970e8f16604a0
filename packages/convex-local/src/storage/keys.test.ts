import type { Value } from "convex/values";
import { describe, expect, it } from "vitest";

import { compareValues, compareValueTuples, encodeIndexKey, prefixSuccessor } from "./keys.js";
import { seededRandom } from "./test-utils/seededRandom.js";

function bytes(...b: number[]): ArrayBuffer {
  return Uint8Array.from(b).buffer;
}

/** Random Convex values biased towards edge cases, equal values and prefixes. */
function valueGenerator(seed: number): (depth?: number) => Value {
  const rand = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const ints = [0n, 1n, -1n, 127n, 128n, -128n, -129n, 32767n, 32768n, -32768n, -32769n, 2n ** 31n - 1n, 2n ** 31n, -(2n ** 31n), -(2n ** 31n) - 1n, 2n ** 63n - 1n, -(2n ** 63n)];
  const floats = [0, -0, 1, -1, 0.5, -0.5, NaN, Infinity, -Infinity, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 1e-300, 2 ** 53, 1.5];
  const chars = ["", "a", "b", "\0", "\x01", "é", "\uffff", "\ue000", "😀", "\u007f", "ÿ"];
  const names = ["", "a", "b", "aa", "_x", "A", "1", "z"];
  const gen = (depth = 0): Value => {
    switch (Math.floor(rand() * (depth > 2 ? 6 : 8))) {
      case 0:
        return null;
      case 1:
        return rand() < 0.6 ? pick(ints) : BigInt.asIntN(64, BigInt(Math.floor(rand() * 2 ** 32)) << BigInt(Math.floor(rand() * 40)));
      case 2:
        return rand() < 0.5 ? pick(floats) : (rand() - 0.5) * 10 ** Math.floor(rand() * 20 - 10);
      case 3:
        return rand() < 0.5;
      case 4: {
        let s = "";
        const n = Math.floor(rand() * 4);
        for (let i = 0; i < n; i++) s += pick(chars);
        return s;
      }
      case 5: {
        const n = Math.floor(rand() * 4);
        return Uint8Array.from({ length: n }, () => pick([0, 1, 0x7f, 0x80, 0xfe, 0xff])).buffer;
      }
      case 6: {
        const n = Math.floor(rand() * 3);
        return Array.from({ length: n }, () => gen(depth + 1));
      }
      default: {
        const obj: Record<string, Value> = {};
        const n = Math.floor(rand() * 3);
        for (let i = 0; i < n; i++) obj[pick(names)] = gen(depth + 1);
        return obj;
      }
    }
  };
  return gen;
}

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

describe("index key encoding", () => {
  it("writes Convex's sort-key bytes for simple values", () => {
    const cases: [Value | undefined, string][] = [
      [undefined, "01"],
      [null, "03"],
      [0n, "08"],
      [1n, "0901"],
      [-1n, "07ff"],
      [256n, "0a0100"],
      [-129n, "06ff7f"],
      [2n ** 31n, "0c0000000080000000"],
      [1, "0dbff0000000000000"],
      [-1, "0d400fffffffffffff"],
      [false, "0e"],
      [true, "0f"],
      ["a\0b", "106100ff6200"],
      [bytes(0xff, 0), "11ff00ff00"],
      [[], "1200"],
      [[null, 1n], "1203090100"],
      [{}, "1500"],
      [{ b: null, a: true }, "1561000f62000300"],
      [{ "": null }, "1500ff0300"],
    ];
    for (const [v, expected] of cases) expect(encodeIndexKey([v]).toString("hex"), String(v)).toBe(expected);
    expect(encodeIndexKey([1n, "x"]).toString("hex")).toBe("0901107800");
  });

  it("orders an explicit list across and within types as Convex does", () => {
    const negNaN = new DataView(new ArrayBuffer(8));
    negNaN.setUint32(0, 0xfff80000);
    const ordered: (Value | undefined)[] = [
      undefined,
      null,
      -(2n ** 63n),
      -(2n ** 31n) - 1n,
      -(2n ** 31n),
      -32769n,
      -32768n,
      -129n,
      -128n,
      -1n,
      0n,
      1n,
      127n,
      128n,
      32767n,
      32768n,
      2n ** 31n - 1n,
      2n ** 31n,
      2n ** 63n - 1n,
      negNaN.getFloat64(0),
      -Infinity,
      -Number.MAX_VALUE,
      -1,
      -Number.MIN_VALUE,
      -0,
      0,
      Number.MIN_VALUE,
      1,
      Number.MAX_VALUE,
      Infinity,
      NaN,
      false,
      true,
      "",
      "\0",
      "\0\0",
      "\x01",
      "a",
      "a\0",
      "ab",
      "b",
      "é",
      "\uffff",
      "😀", // U+1F600: after U+FFFF in UTF-8/code point order, though before it in UTF-16
      bytes(),
      bytes(0),
      bytes(0, 0),
      bytes(1),
      bytes(0xff),
      [],
      [null],
      [null, null],
      [0n],
      [1],
      ["a"],
      [[]],
      [{}],
      {},
      { "": null },
      { a: null },
      { a: 1n },
      { a: 1 },
      { a: "x" },
      { a: "x", b: null },
      { aa: null },
      { b: null },
    ];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        const expected = sign(i - j);
        expect(compareValues(ordered[i], ordered[j]), `${i} vs ${j}`).toBe(expected);
        expect(sign(Buffer.compare(encodeIndexKey([ordered[i]]), encodeIndexKey([ordered[j]]))), `${i} vs ${j}`).toBe(
          expected,
        );
      }
    }
  });

  it("agrees with compareValues on many random pairs", () => {
    const gen = valueGenerator(12345);
    let equal = 0;
    for (let i = 0; i < 20000; i++) {
      const a = gen();
      const b = i % 5 === 0 ? structuredClone(a) : gen();
      const c = compareValues(a, b);
      const ka = encodeIndexKey([a]);
      const kb = encodeIndexKey([b]);
      expect(sign(Buffer.compare(ka, kb))).toBe(c);
      expect(compareValues(b, a)).toBe(c === 0 ? 0 : -c);
      if (c === 0) {
        equal++;
        expect(ka.equals(kb)).toBe(true);
      }
    }
    expect(equal).toBeGreaterThan(3000);
  });

  it("agrees with compareValueTuples on random tuples, and a field prefix is a key prefix", () => {
    const gen = valueGenerator(777);
    for (let i = 0; i < 5000; i++) {
      const shared = gen();
      const a = [shared, gen(), gen()];
      const b = [shared, gen(), gen()];
      expect(sign(Buffer.compare(encodeIndexKey(a), encodeIndexKey(b)))).toBe(compareValueTuples(a, b));
      const full = encodeIndexKey(a);
      const prefix = encodeIndexKey(a.slice(0, 2));
      expect(full.subarray(0, prefix.length).equals(prefix)).toBe(true);
    }
  });

  it("sorting random values by compareValues sorts their keys", () => {
    const gen = valueGenerator(99);
    const values = Array.from({ length: 2000 }, () => gen());
    values.sort(compareValues);
    const keys = values.map((v) => encodeIndexKey([v]));
    for (let i = 1; i < keys.length; i++) expect(Buffer.compare(keys[i - 1], keys[i])).toBeLessThanOrEqual(0);
  });

  it("ignores object field insertion order and undefined fields", () => {
    expect(encodeIndexKey([{ b: 1n, a: 2n }]).equals(encodeIndexKey([{ a: 2n, b: 1n }]))).toBe(true);
    expect(encodeIndexKey([{ a: 1n, b: undefined }]).equals(encodeIndexKey([{ a: 1n }]))).toBe(true);
    // Integer-like keys, which JS enumerates first, still sort by bytes.
    expect(compareValues({ "10": null }, { "9": null })).toBe(-1);
  });

  it("rejects out-of-range int64 and non-values", () => {
    expect(() => encodeIndexKey([2n ** 63n])).toThrow(/int64/);
    expect(() => encodeIndexKey([-(2n ** 63n) - 1n])).toThrow(/int64/);
    expect(() => encodeIndexKey([new Date() as unknown as Value])).toThrow(/Not a Convex value/);
    expect(() => compareValues(new Map() as unknown as Value, {})).toThrow(/Not a Convex value/);
  });
});

describe("prefixSuccessor", () => {
  it("is the smallest key above everything with the prefix", () => {
    expect(prefixSuccessor(Buffer.from("1061", "hex"))?.toString("hex")).toBe("1062");
    expect(prefixSuccessor(Buffer.from("10ffff", "hex"))?.toString("hex")).toBe("11");
    expect(prefixSuccessor(Buffer.from("ffff", "hex"))).toBeUndefined();
    expect(prefixSuccessor(Buffer.alloc(0))).toBeUndefined();
  });

  it("bounds exactly the keys that start with the prefix", () => {
    const gen = valueGenerator(4242);
    for (let i = 0; i < 3000; i++) {
      const prefix = encodeIndexKey([gen()]);
      const key = encodeIndexKey(i % 2 === 0 ? [gen(), gen()] : [gen()]);
      const upper = prefixSuccessor(prefix)!;
      const inRange = Buffer.compare(key, prefix) >= 0 && Buffer.compare(key, upper) < 0;
      expect(inRange).toBe(key.subarray(0, prefix.length).equals(prefix));
    }
  });
});
