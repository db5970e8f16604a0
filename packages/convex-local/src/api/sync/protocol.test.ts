import { describe, expect, test } from "vitest";
// The official client's own decoder (not exported by the package; imported by file).
// @ts-expect-error untyped internal module
import { u64ToLong, longToU64 } from "../../../../../node_modules/convex/dist/esm/browser/sync/protocol.js";
import { decodeTs, encodeTs, parseClientMessage, ProtocolError, singleArgsObject } from "./protocol.js";

describe("timestamps", () => {
  test("u64 little-endian base64, as the client decodes it", () => {
    for (const ts of [0n, 1n, 255n, 256n, 1_760_000_000_123_456_789n, (1n << 63n) - 1n, (1n << 64n) - 1n]) {
      const encoded = encodeTs(ts);
      const long = u64ToLong(encoded) as { low: number; high: number };
      expect((BigInt(long.high >>> 0) << 32n) + BigInt(long.low >>> 0), `${ts}`).toBe(ts);
      expect(decodeTs(encoded)).toBe(ts);
    }
    expect(encodeTs(1n)).toBe("AQAAAAAAAAA=");
    expect(decodeTs(longToU64(u64ToLong("AQIDBAUGBwg=")))).toBe(0x0807060504030201n);
    expect(() => encodeTs(-1n)).toThrow(RangeError);
    expect(() => decodeTs("AQID")).toThrow(ProtocolError);
  });
});

describe("client messages", () => {
  test("the messages 1.48 sends parse", () => {
    expect(parseClientMessage(JSON.stringify({ type: "Connect", sessionId: "s", connectionCount: 2, lastCloseReason: null, clientTs: 5 }))).toEqual({
      type: "Connect",
      sessionId: "s",
      connectionCount: 2,
      lastCloseReason: null,
      maxObservedTimestamp: undefined,
      clientTs: 5,
    });
    expect(
      parseClientMessage(
        JSON.stringify({
          type: "ModifyQuerySet",
          baseVersion: 0,
          newVersion: 1,
          modifications: [
            { type: "Add", queryId: 3, udfPath: "a:b", args: [{ x: 1 }], journal: null },
            { type: "Remove", queryId: 2 },
          ],
        }),
      ),
    ).toMatchObject({ modifications: [{ type: "Add", queryId: 3, udfPath: "a:b", args: [{ x: 1 }], journal: null }, { type: "Remove", queryId: 2 }] });
    expect(parseClientMessage(JSON.stringify({ type: "Authenticate", tokenType: "Admin", value: "k", baseVersion: 0, impersonating: { subject: "u" } }))).toEqual({
      type: "Authenticate",
      tokenType: "Admin",
      value: "k",
      baseVersion: 0,
      impersonating: { subject: "u" },
    });
    expect(parseClientMessage(JSON.stringify({ type: "Authenticate", tokenType: "None", baseVersion: 4 }))).toEqual({ type: "Authenticate", tokenType: "None", baseVersion: 4 });
    expect(parseClientMessage(JSON.stringify({ type: "Event", eventType: "ClientConnect", event: {} }))).toMatchObject({ type: "Event" });
  });

  test.each([
    ["{", /Invalid JSON/],
    ["3", /Invalid JSON/],
    [JSON.stringify({ type: "Nope" }), /Unknown client message type/],
    [JSON.stringify({ type: "Connect", connectionCount: 0 }), /sessionId/],
    [JSON.stringify({ type: "Mutation", requestId: 1.5, udfPath: "a", args: [] }), /requestId must be a u32/],
    [JSON.stringify({ type: "Mutation", requestId: 1, udfPath: "a", args: {} }), /args must be an array/],
    [JSON.stringify({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Swap" }] }), /Unknown query set modification/],
    [JSON.stringify({ type: "Authenticate", tokenType: "User", baseVersion: 0 }), /value must be a string/],
    [JSON.stringify({ type: "Authenticate", tokenType: "Magic", value: "", baseVersion: 0 }), /tokenType/],
  ])("%s is a ProtocolError", (text, message) => {
    expect(() => parseClientMessage(text)).toThrow(ProtocolError);
    expect(() => parseClientMessage(text)).toThrow(message);
  });

  test("frames nested past serde_json's limit are refused with its error, as Convex words it", () => {
    const nested = (depth: number) => `{"type":"Event","eventType":"x","event":${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`;
    expect(parseClientMessage(nested(127))).toMatchObject({ type: "Event" });
    // serde_json: "[" × 200 → "recursion limit exceeded at line 1 column 128" (the 128th level).
    expect(() => parseClientMessage("[".repeat(200))).toThrow(new ProtocolError("Received Invalid JSON on websocket: recursion limit exceeded at line 1 column 128"));
    expect(() => parseClientMessage(nested(128))).toThrow(/recursion limit exceeded at line 1 column 167$/);
    expect(() => parseClientMessage(`{\n "a": ${"[".repeat(20_000)}`)).toThrow(/recursion limit exceeded at line 2 column 133$/);
    // Brackets inside strings do not nest.
    expect(parseClientMessage(JSON.stringify({ type: "Event", eventType: "[".repeat(500), event: '\\"{'.repeat(500) }))).toMatchObject({ type: "Event" });
  });

  test("function arguments are one object", () => {
    expect(singleArgsObject([{ a: 1 }])).toEqual({ ok: true, value: { a: 1 } });
    expect(singleArgsObject([])).toMatchObject({ ok: false });
    expect(singleArgsObject([1])).toMatchObject({ ok: false });
    expect(singleArgsObject([{}, {}])).toMatchObject({ ok: false });
  });
});
