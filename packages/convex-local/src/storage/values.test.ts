import { jsonToConvex, type JSONValue } from "convex/values";
import fc from "fast-check";
import { inspect, isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { jsonToValue } from "./values.js";

/** The value, or the error message, a decoder gives for `json`. */
function outcome(decode: (json: JSONValue) => unknown, json: JSONValue): { value: unknown } | { error: string } {
  try {
    return { value: decode(json) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

const base64 = fc.uint8Array({ maxLength: 10 }).map((bytes) => Buffer.from(bytes).toString("base64"));
const special = fc.constantFrom(NaN, Infinity, -Infinity, -0, 1.5).map((float) => {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(float);
  return bytes.toString("base64");
});
/** Field names: ordinary ones, and ones Convex refuses (`$`, control and non-ASCII characters, too long). */
const fieldName = fc
  .oneof(fc.string(), fc.constantFrom("$bytes", "$x", "a\u0001", "é", "x".repeat(1025), "constructor", "toString", "_id"))
  .filter((name) => name !== "__proto__" && name !== "$commitTs");

/**
 * JSON in Convex's encoding, valid and not: plain JSON, the `$` wrappers with good and bad contents,
 * re-parsed so it is what arrives from the wire (fast-check may build objects without a prototype).
 */
const encoded = fc.letrec<{ value: JSONValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(null, true, false, 0, -1.25, "", "text"),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.record({ $integer: fc.oneof(base64, fc.integer()) }),
    fc.record({ $bytes: fc.oneof(base64, fc.string({ maxLength: 6 }), fc.constant(null)) }),
    fc.record({ $float: fc.oneof(special, base64) }),
    fc.constantFrom<JSONValue>({ $set: [] }, { $map: [] }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fieldName, tie("value"), { maxKeys: 4 }),
  ),
})).value.map((json) => JSON.parse(JSON.stringify(json)) as JSONValue);

describe("jsonToValue", () => {
  it("decodes as jsonToConvex does: same values, same errors", () => {
    fc.assert(
      fc.property(encoded, (json) => {
        const [ours, theirs] = [outcome(jsonToValue, json), outcome(jsonToConvex, json)];
        // isDeepStrictEqual, not toStrictEqual: vitest reads a field named `constructor` as the class.
        expect(isDeepStrictEqual(ours, theirs), `${inspect(ours)} vs jsonToConvex's ${inspect(theirs)}`).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps __proto__ as an own field, never as the prototype", () => {
    const decoded = jsonToValue(JSON.parse('{"body":"hi","__proto__":{"isAdmin":true},"nested":{"__proto__":null}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded.isAdmin).toBeUndefined();
    expect(Object.keys(decoded)).toEqual(["body", "__proto__", "nested"]);
    expect(Object.getOwnPropertyDescriptor(decoded, "__proto__")?.value).toEqual({ isAdmin: true });
    expect(Object.getOwnPropertyDescriptor(decoded.nested, "__proto__")?.value).toBeNull();
  });

  it("refuses $commitTs: convex-local has no commit-timestamp placeholders", () => {
    expect(() => jsonToValue({ $commitTs: null })).toThrow("Field name $commitTs starts with a '$', which is reserved.");
  });
});
