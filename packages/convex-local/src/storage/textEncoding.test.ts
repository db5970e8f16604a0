import { describe, expect, it } from "vitest";

import { decodePostings, encodePostings, encodeTermList, forEachTerm } from "./textEncoding.js";

describe("text index encodings", () => {
  it("round-trips posting blocks: runs of one length, length jumps, numbers past 2^32", () => {
    const postings = {
      lengths: [1, 1, 1, 8, 40, 40, 2_013_265_944],
      documents: [0, 5, 2 ** 40, 3, 7, 2 ** 53 - 1, 12],
    };
    expect(decodePostings(encodePostings(postings))).toEqual(postings);
    // a slice starts afresh: its first posting is stored whole
    expect(decodePostings(encodePostings(postings, 2, 5))).toEqual({ lengths: [1, 8, 40], documents: [2 ** 40, 3, 7] });
    expect(decodePostings(encodePostings({ lengths: [], documents: [] }))).toEqual({ lengths: [], documents: [] });
  });

  it("stores a block of small numbers in a couple of bytes a posting", () => {
    const lengths = Array.from({ length: 128 }, (_, i) => 8 + (i >> 4));
    const documents = Array.from({ length: 128 }, (_, i) => 90_000 + 3 * i);
    expect(encodePostings({ lengths, documents }).length).toBeLessThan(2.5 * 128);
  });

  it("round-trips term lists", () => {
    const terms: [number, number][] = [
      [0, 1],
      [3, 200],
      [70_000, 2],
      [2 ** 40, 1],
    ];
    const seen: [number, number][] = [];
    forEachTerm(encodeTermList(terms), (term, frequency) => seen.push([term, frequency]));
    expect(seen).toEqual(terms);
  });
});
