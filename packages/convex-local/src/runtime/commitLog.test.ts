import { describe, expect, it } from "vitest";
import type { IndexInfo } from "../storage/index.js";
import { rangeForPrefix } from "../storage/keys.js";
import type { DocumentWrite, ReadRange } from "../transactions/transaction.js";
import { CommitLog } from "./commitLog.js";

const indexes: IndexInfo[] = [
  { name: "by_id", fields: ["_id"], keyFields: ["_id"] },
  { name: "by_channel", fields: ["channel"], keyFields: ["channel", "_creationTime", "_id"] },
];
const indexesOf = (table: string) => (table === "messages" ? indexes : undefined);

function insert(channel: string, id: string): DocumentWrite {
  return { table: "messages", id, before: null, after: JSON.stringify({ _id: id, _creationTime: 1, channel }) };
}

function readOfChannel(channel: string): ReadRange[] {
  return [{ table: "messages", index: "by_channel", range: rangeForPrefix([channel]) }];
}

describe("CommitLog", () => {
  it("finds the results a commit after their snapshot wrote into, and only those", () => {
    const log = new CommitLog(indexesOf, 10n);
    log.record([insert("a", "1")], 20n);
    const results = [
      { reads: readOfChannel("a"), snapshotTs: 10n }, // before the write into "a": stale
      { reads: readOfChannel("a"), snapshotTs: 20n }, // read the write: current
      { reads: readOfChannel("b"), snapshotTs: 10n }, // another channel: current
      { reads: [], snapshotTs: -1n }, // read nothing: always current
    ];
    expect([...log.staleOf(results)]).toEqual([0]);
  });

  it("calls a result stale when commits after its snapshot are no longer kept", () => {
    const log = new CommitLog(indexesOf, 0n, { maxCommits: 2, maxAgeMs: 60_000 });
    for (let ts = 1n; ts <= 5n; ts++) log.record([insert("x", String(ts))], ts);
    // Commits 1–3 were dropped: a result from snapshot 2 may have missed commit 3.
    expect([...log.staleOf([{ reads: readOfChannel("b"), snapshotTs: 2n }])]).toEqual([0]);
    expect([...log.staleOf([{ reads: readOfChannel("b"), snapshotTs: 3n }])]).toEqual([]);
  });

  it("tells whether commits between two timestamps wrote into a read set, or may have", () => {
    const log = new CommitLog(indexesOf, 10n, { maxCommits: 3, maxAgeMs: 60_000 });
    log.record([insert("a", "1")], 20n);
    log.record([insert("b", "2")], 30n);
    expect(log.writtenBetween(readOfChannel("a"), 10n, 30n)).toBe(true);
    expect(log.writtenBetween(readOfChannel("a"), 20n, 30n)).toBe(false); // only "b" was written since
    expect(log.writtenBetween(readOfChannel("b"), 10n, 20n)).toBe(false); // the write into "b" came later
    expect(log.writtenBetween([], 0n, 30n)).toBe(false); // read nothing
    expect(log.writtenBetween(readOfChannel("c"), 20n, 40n)).toBe(true); // commit 40 not recorded yet
    log.record([insert("x", "3")], 40n);
    log.record([insert("x", "4")], 50n);
    expect(log.writtenBetween(readOfChannel("c"), 10n, 50n)).toBe(true); // commit 20 is no longer kept
    expect(log.writtenBetween(readOfChannel("c"), 20n, 50n)).toBe(false);
  });
});
