import { describe, expect, test } from "vitest";
// The official client's own decoder (not exported by the package; imported by file).
// @ts-expect-error untyped internal module
import { u64ToLong, longToU64 } from "../../../../../node_modules/convex/dist/esm/browser/sync/protocol.js";
import { decodeTs, encodeTs, MAX_FRAME_VALUES, parseClientMessage, ProtocolError, singleArgsObject } from "./protocol.js";

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

  test("errors quote the client's values cut to 200 characters, whatever their size", () => {
    const huge = "q".repeat(1024 * 1024);
    const quoted = `"${"q".repeat(185)}[...truncated]`;
    const errorOf = (message: unknown): string => {
      try {
        parseClientMessage(JSON.stringify(message));
      } catch (error) {
        expect(error).toBeInstanceOf(ProtocolError);
        return (error as Error).message;
      }
      throw new Error("parsed");
    };
    expect(errorOf({ type: huge })).toBe(`Unknown client message type ${quoted}`);
    expect(errorOf({ type: "Authenticate", baseVersion: 0, tokenType: huge })).toBe(`Unknown Authenticate.tokenType ${quoted}`);
    expect(errorOf({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: huge }] })).toBe(`Unknown query set modification type ${quoted}`);
    expect(errorOf({ type: "Mutation", requestId: huge, udfPath: "a", args: [] })).toBe(`Mutation.requestId must be a u32, got ${quoted}`);
    expect(errorOf({ type: "Connect", sessionId: "s", connectionCount: { a: huge } })).toBe(`Connect.connectionCount must be a u32, got {"a":"${"q".repeat(180)}[...truncated]`);
    // Short values are quoted whole, as before.
    expect(errorOf({ type: "Mutation", requestId: [1, 2], udfPath: "a", args: [] })).toBe("Mutation.requestId must be a u32, got [1,2]");
    expect(errorOf({ type: "Connect", sessionId: "s" })).toBe("Connect.connectionCount must be a u32, got undefined");
    expect(errorOf({ type: "x".repeat(200) })).toBe(`Unknown client message type "${"x".repeat(185)}[...truncated]`);
  });

  test("frames of more values than an HTTP body may hold are refused before parsing", () => {
    expect(MAX_FRAME_VALUES).toBe(262_144);
    const frame = (n: number) => `{"type":"Event","eventType":"x","event":[${"0,".repeat(n)}0]}`;
    expect(parseClientMessage(frame(1_000), 2_000)).toMatchObject({ type: "Event" });
    expect(() => parseClientMessage(frame(2_000), 2_000)).toThrow(
      new ProtocolError("Received Invalid JSON on websocket: the frame holds more than 2000 values, the most convex-local accepts in one message"),
    );
    // Not parsed: the scan stops at the limit, whatever follows it.
    expect(() => parseClientMessage(`[${"0,".repeat(300_000)}`)).toThrow(/more than 262144 values/);
    // A frame given as bytes is scanned and decoded the same.
    expect(parseClientMessage(Buffer.from(JSON.stringify({ type: "Event", eventType: "é", event: ["[", "{"] })))).toEqual({ type: "Event", eventType: "é", event: ["[", "{"] });
  });

  test("function arguments are one object", () => {
    expect(singleArgsObject([{ a: 1 }])).toEqual({ ok: true, value: { a: 1 } });
    expect(singleArgsObject([])).toMatchObject({ ok: false });
    expect(singleArgsObject([1])).toMatchObject({ ok: false });
    expect(singleArgsObject([{}, {}])).toMatchObject({ ok: false });
  });
});
