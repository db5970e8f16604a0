import { randomBytes } from "node:crypto";

import { describe, expect, it } from "vitest";

import { decodeDocumentId, encodeDocumentId, newInternalId } from "./ids.js";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

describe("document ids", () => {
  // Ids that appear in Convex's own sources (get-convex/convex-backend):
  // `_storage` ids (table 540) in npm-packages/dashboard/src/docs/pages/project/deployment/FileStorage.stories.tsx
  // and npm-packages/system-udfs/convex/_system/frontend/latestExport.ts, and
  // user-table ids in npm-packages/dashboard/src/elements/CommandPalette/CommandPalette.stories.tsx.
  const realIds: [string, number, string][] = [
    ["kg204m40v9m1bmkthp86n486mh85s0rc", 540, "025080da6815d27a8d906a9106a4505c"],
    ["kg27rxfv99gzp01wmph0gvt92d6hnvy6", 540, "7c75fb4a61fb003ca5a2086f49134d1a"],
    ["k570e9j5cj1t5gf0zwf3tq3vkawxhqr0", 10009, "0726456483a2c1e0ff1e3d5c7b9ab9d8"],
  ];

  it.each(realIds)("decodes and re-encodes the real Convex id %s", (id, table, internal) => {
    const decoded = decodeDocumentId(id);
    expect(decoded?.tableNumber).toBe(table);
    expect(hex(decoded!.internalId)).toBe(internal);
    expect(encodeDocumentId(table, Buffer.from(internal, "hex"))).toBe(id);
  });

  it("encodes known vectors (checked against Convex's npm-packages/id-encoding decoder)", () => {
    const zeros = new Uint8Array(16);
    expect(encodeDocumentId(1, zeros)).toBe("0400000000000000000000000000248");
    expect(encodeDocumentId(10001, zeros)).toBe("j5700000000000000000000000001qv0");
    expect(encodeDocumentId(539, Uint8Array.from({ length: 16 }, (_, i) => i))).toBe(
      "kc2000820c20a1g7104gm2rc1m70y5yj",
    );
  });

  it("round-trips random ids over the whole table number range, with Convex's lengths", () => {
    const tables = [1, 127, 128, 539, 10001, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 32 - 1];
    const lengths = new Map([
      [1, 31],
      [2, 32],
      [3, 34],
      [4, 36],
      [5, 37],
    ]);
    for (const tableNumber of tables) {
      const varintLength = Math.max(1, Math.ceil(Math.log2(tableNumber + 1) / 7));
      for (let i = 0; i < 50; i++) {
        const internalId = new Uint8Array(randomBytes(16));
        const id = encodeDocumentId(tableNumber, internalId);
        expect(id).toMatch(/^[0-9a-hjkmnp-tv-z]+$/);
        expect(id.length).toBe(lengths.get(varintLength));
        const decoded = decodeDocumentId(id);
        expect(decoded?.tableNumber).toBe(tableNumber);
        expect(hex(decoded!.internalId)).toBe(hex(internalId));
      }
    }
  });

  it("rejects every single-character change and every truncation or extension", () => {
    for (let n = 0; n < 20; n++) {
      const id = encodeDocumentId(10001 + n, newInternalId());
      for (let pos = 0; pos < id.length; pos++) {
        for (const c of ALPHABET) {
          if (c === id[pos]) continue;
          const tampered = id.slice(0, pos) + c + id.slice(pos + 1);
          expect(decodeDocumentId(tampered), tampered).toBeNull();
        }
      }
      for (let len = 0; len < id.length; len++) expect(decodeDocumentId(id.slice(0, len))).toBeNull();
      for (const c of ALPHABET) expect(decodeDocumentId(id + c)).toBeNull();
    }
  });

  it("rejects bad characters, uppercase, table number 0 and non-canonical varints", () => {
    const id = encodeDocumentId(10001, newInternalId());
    expect(decodeDocumentId(id.toUpperCase())).toBeNull();
    expect(decodeDocumentId(id.slice(0, 5) + "u" + id.slice(6))).toBeNull(); // 'u' is not in the alphabet
    expect(decodeDocumentId(id.slice(0, 5) + "é" + id.slice(6))).toBeNull();
    expect(decodeDocumentId("")).toBeNull();
    // Table number 0 with a valid checksum: bytes [0, 16 zero bytes, footer 0, 0].
    expect(decodeDocumentId("0".repeat(31))).toBeNull();
  });

  it("refuses to encode invalid inputs", () => {
    expect(() => encodeDocumentId(0, new Uint8Array(16))).toThrow();
    expect(() => encodeDocumentId(2 ** 32, new Uint8Array(16))).toThrow();
    expect(() => encodeDocumentId(1.5, new Uint8Array(16))).toThrow();
    expect(() => encodeDocumentId(1, new Uint8Array(15))).toThrow();
  });

  it("newInternalId ends with the day number and is random otherwise", () => {
    const now = Date.UTC(2026, 0, 2, 12);
    const a = newInternalId(now);
    const b = newInternalId(now);
    const day = Math.floor(now / 86_400_000);
    expect((a[14] << 8) | a[15]).toBe(day);
    expect(hex(a.subarray(0, 14))).not.toBe(hex(b.subarray(0, 14)));
  });
});
