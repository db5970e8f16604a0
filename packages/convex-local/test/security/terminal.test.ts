/**
 * What clients send must not act on the developer's terminal, nor flood it (issue #13, findings 3
 * and 7): control sequences in function paths and logged values are printed escaped, and log lines
 * and errors are bounded as Convex bounds them, in the printed log and in `npx convex logs`' stream.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { securityTarget, underAttack, type SecurityTarget } from "./target.js";

const target = securityTarget();

/** Sequences a terminal acts on: OSC title and clipboard writes, CSI screen clears, their C1 forms, CR/BS/DEL, a bidi override. */
const HOSTILE = "\x1b]0;pwned\x07 \x1b]52;c;cHduZWQ=\x1b\\ \x1b[2J\x1b[H \x9b31m \x9d0;c1\x9c \r\b\x7f \u202e";
/** Any of them, raw; the server's own output has no control characters but newlines. */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

async function mutation(path: string, args: Record<string, unknown>): Promise<{ status: string; errorMessage?: string; logLines?: string[] }> {
  const response = await fetch(`${target.url}/api/mutation`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path, args, format: "json" }),
  });
  return (await response.json()) as { status: string; errorMessage?: string; logLines?: string[] };
}

/** What the server printed after `from` bytes, once it contains `marker` (printing is asynchronous). */
async function printedOnce(server: SecurityTarget, from: number, marker: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const printed = Buffer.from(server.output()).subarray(from).toString();
    if (printed.includes(marker)) return printed;
    if (Date.now() > deadline) throw new Error(`the server never printed ${marker}; it printed:\n${printed.slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Opens a sync connection and sends a query subscription and a mutation for `udfPath`; resolves once both failed. */
function overSocket(udfPath: string): Promise<void> {
  const socket = new WebSocket(`${target.url.replace("http", "ws")}/api/1.48.0/sync`);
  return new Promise((resolve, reject) => {
    let answers = 0;
    socket.once("error", reject);
    socket.once("open", () => {
      socket.send(JSON.stringify({ type: "Connect", sessionId: randomUUID(), connectionCount: 0, lastCloseReason: "InitialConnect", clientTs: Date.now() }));
      socket.send(JSON.stringify({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath, args: [{}] }] }));
      socket.send(JSON.stringify({ type: "Mutation", requestId: 0, udfPath, args: [{}] }));
    });
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === "Transition" || message.type === "MutationResponse") answers++;
      if (answers === 2) {
        socket.close();
        resolve();
      }
    });
  });
}

interface StreamedEntry {
  identifier: string;
  logLines: { messages: string[]; isTruncated: boolean }[];
  error: string | null;
}

/** Every entry `npx convex logs` would see now. */
async function streamedLog(): Promise<StreamedEntry[]> {
  const response = await fetch(`${target.url}/api/stream_function_logs?cursor=0`, { headers: { Authorization: `Convex ${target.adminKey}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { entries: StreamedEntry[] }).entries;
}

describe("control characters from clients", () => {
  it("are printed escaped when a function logs them", async () => {
    const marker = `echo-${randomUUID()}`;
    const from = Buffer.byteLength(target.output());
    expect(await mutation("logging:echo", { value: `${marker} ${HOSTILE}` })).toMatchObject({ status: "success" });
    const printed = await printedOnce(target, from, marker);
    expect(printed).not.toMatch(RAW_CONTROL);
    expect(printed).toContain(String.raw`\x1b]0;pwned\x07 \x1b]52;c;cHduZWQ=\x1b\ \x1b[2J\x1b[H \u009b31m \u009d0;c1\u009c \x0d\x08\x7f \u202e`);
  });

  it("are printed escaped when a socket client names a function with them", async () => {
    const marker = `path-${randomUUID()}`;
    const from = Buffer.byteLength(target.output());
    await overSocket(`logging:${marker}${HOSTILE}\nforged line`);
    const printed = await printedOnce(target, from, marker);
    expect(printed).not.toMatch(RAW_CONTROL);
    expect(printed).toContain(String.raw`\x1b]0;pwned\x07`);
    // In the path, a one-line field, the newline is escaped too.
    expect(printed).toMatch(/\[M\] logging:path-\S+.*\\x0aforged line failed: /);
  });
});

describe("log volume from one execution", () => {
  it("prints a 10 MB logged string as one line cut at 32 KiB", async () => {
    const from = Buffer.byteLength(target.output());
    const report = await underAttack(target, () => mutation("logging:flood", { lines: 1, bytes: 10_000_000 }), { maxPrintedBytes: 40 * 1024 });
    expect(report.result.status).toBe("success");
    const printed = await printedOnce(target, from, "(truncated due to length)");
    expect(printed).toMatch(/\[LOG\] 'x{32767} \(truncated due to length\)/);
  });

  it("prints at most 256 lines of one execution, the last saying the rest were omitted", async () => {
    const from = Buffer.byteLength(target.output());
    const report = await underAttack(target, () => mutation("logging:flood", { lines: 5000, bytes: 10 }), { maxPrintedBytes: 20 * 1024 });
    expect(report.result.status).toBe("success");
    const printed = await printedOnce(target, from, "Log overflow");
    const lines = printed.split("\n").filter((line) => line.includes("logging:flood"));
    expect(lines).toHaveLength(256);
    expect(lines[255]).toContain("[ERROR] Log overflow (maximum 256). Remaining log lines omitted.");
  });

  it("answers the caller with the same 256 lines at most, however many the function logged", async () => {
    const { logLines } = await mutation("logging:flood", { lines: 5000, bytes: 10 });
    expect(logLines).toHaveLength(256);
    expect(logLines![255]).toBe("[ERROR] Log overflow (maximum 256). Remaining log lines omitted.");
  });

  it("prints a 10 MB error message cut at 64 KiB, and answers the caller with it cut so too", async () => {
    const from = Buffer.byteLength(target.output());
    const report = await underAttack(target, () => mutation("logging:fail", { bytes: 10_000_000 }), { maxPrintedBytes: 80 * 1024 });
    expect(report.result.status).toBe("error");
    // The caller's answer is cut as Convex cuts it (the message at 64 KiB), not only the log.
    expect(Buffer.byteLength(report.result.errorMessage!)).toBeLessThan(66 * 1024);
    const printed = await printedOnce(target, from, "logging:fail failed");
    expect(printed.length).toBeGreaterThan(60 * 1024);
  });

  it("keeps the entries `npx convex logs` streams within the same bounds", async () => {
    await mutation("logging:flood", { lines: 1, bytes: 10_000_000 });
    await mutation("logging:flood", { lines: 5000, bytes: 10 });
    await mutation("logging:fail", { bytes: 10_000_000 });
    const entries = await streamedLog();
    const flood = entries.filter((entry) => entry.identifier === "logging:flood");
    expect(flood.length).toBeGreaterThanOrEqual(2);
    for (const entry of flood) {
      expect(entry.logLines.length).toBeLessThanOrEqual(256);
      for (const line of entry.logLines) expect(Buffer.byteLength(line.messages.join(" "))).toBeLessThanOrEqual(32_768);
    }
    expect(flood.some((entry) => entry.logLines.some((line) => line.isTruncated))).toBe(true);
    const failed = entries.findLast((entry) => entry.identifier === "logging:fail");
    expect(Buffer.byteLength(failed?.error ?? "")).toBeLessThanOrEqual(64 * 1024);
    expect(Buffer.byteLength(failed?.error ?? "")).toBeGreaterThan(60 * 1024);
  });
});
