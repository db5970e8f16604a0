/**
 * The value format rules of snapshot files, alone: export text as serde_json writes Convex's
 * ConvexExportJSON, integers read back as Int64 only inside the i64 range, CSV cells as Rust parses them.
 */
import { describe, expect, it } from "vitest";
import { exportText } from "../../src/api/snapshot/exportJson.js";
import { withInt64Markers } from "../../src/api/snapshot/importValues.js";
import { CsvReader, csvCell } from "../../src/api/snapshot/csv.js";

const int64 = (n: bigint) => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64LE(n);
  return bytes.toString("base64");
};

describe("export text", () => {
  it("writes floats with a fraction or exponent, Int64 as integers, the rest as stored", () => {
    expect(exportText({ a: 3, b: -0, c: 0.5, d: 1e300, e: { $integer: int64(-5n) }, f: { $bytes: "AQ==" }, g: [null, true, "s"] })).toBe(
      '{"a":3.0,"b":-0.0,"c":0.5,"d":1e+300,"e":-5,"f":{"$bytes":"AQ=="},"g":[null,true,"s"]}',
    );
  });
});

describe("Int64 markers", () => {
  it("marks integers in the i64 range, leaving floats, big integers and strings alone", () => {
    expect(JSON.parse(withInt64Markers('{"a":1,"b":1.0,"c":"2","d":18446744073709551616,"e":[-3,2e3]}'))).toEqual({
      a: { $integer: int64(1n) },
      b: 1,
      c: "2",
      d: 18446744073709551616,
      e: [{ $integer: int64(-3n) }, 2000],
    });
  });
});

describe("CSV", () => {
  it("reads cells as Rust's f64 parser does", () => {
    expect([csvCell("1.5"), csvCell("-2"), csvCell(""), csvCell(" 1"), csvCell("NaN"), csvCell("1e3"), csvCell("abc")]).toEqual([1.5, -2, "", " 1", null, 1000, "abc"]);
  });

  it("reads quoted fields across lines and skips blank lines", () => {
    expect(new CsvReader().push('a,b\r\n"x\ny",2\n\n"q""",3\n', true).map(({ row, line, value }) => [row, line, value])).toEqual([
      [1, 2, { a: "x\ny", b: 2 }],
      [2, 5, { a: 'q"', b: 3 }],
    ]);
  });

  it("reads a text that arrives in parts as it reads it whole, wherever the parts end", () => {
    const text = 'a,b\r\n"x\r\ny",2\r\n\r\n"q""",3\n"""",""\r"end",4';
    const whole = new CsvReader().push(text, true);
    expect(whole).toHaveLength(4);
    for (let cut = 0; cut <= text.length; cut++) {
      const reader = new CsvReader();
      expect([...reader.push(text.slice(0, cut)), ...reader.push(text.slice(cut), true)]).toEqual(whole);
    }
  });
});
