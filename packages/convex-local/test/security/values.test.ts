/**
 * Issue #13 finding 4 (`__proto__` in arguments) and the echo part of finding 3: values from the wire
 * only ever get own fields, so a field named `__proto__`, `constructor` or `prototype` is validated
 * like any other, and an error quotes at most a few KB of the value it refused.
 *
 * The requests are written as JSON text: a JavaScript object literal cannot carry an own
 * `__proto__` field, and the official clients drop one (convexToJson assigns it), but an attacker
 * sends whatever text they like.
 */
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { securityTarget, underAttack, type SecurityTarget } from "./target.js";

const target = securityTarget();

interface FunctionAnswer {
  status: "success" | "error";
  value?: unknown;
  errorMessage?: string;
}

/** Calls `path` over HTTP with `argsJson` sent as it is written (a Buffer is sent as it is, encoded ahead). */
async function callHttp(kind: "query" | "mutation", path: string, argsJson: string): Promise<FunctionAnswer> {
  return await post(kind, requestBody(path, argsJson));
}

function requestBody(path: string, argsJson: string): string {
  return `{"path":${JSON.stringify(path)},"args":${argsJson},"format":"json"}`;
}

async function post(kind: "query" | "mutation", body: string | Buffer): Promise<FunctionAnswer> {
  const response = await fetch(`${target.url}/api/${kind}`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
  return (await response.json()) as FunctionAnswer;
}

/** Sends one query subscription and one mutation over the sync socket, arguments as written; resolves with the two error messages (or null on success). */
async function callSync(server: SecurityTarget, query: { path: string; argsJson: string }, mutation: { path: string; argsJson: string }): Promise<{ query: string | null; mutation: string | null }> {
  const socket = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/1.48.0/sync`);
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  const answers = { query: undefined as string | null | undefined, mutation: undefined as string | null | undefined };
  const done = new Promise<void>((resolve, reject) => {
    socket.on("message", (data) => {
      const message = JSON.parse(String(data));
      if (message.type === "Transition") {
        for (const modification of message.modifications) {
          if (modification.queryId === 0) answers.query = modification.type === "QueryFailed" ? modification.errorMessage : null;
        }
      } else if (message.type === "MutationResponse") {
        answers.mutation = message.success ? null : message.result;
      } else if (message.type === "FatalError") {
        reject(new Error(`FatalError: ${message.error}`));
      }
      if (answers.query !== undefined && answers.mutation !== undefined) resolve();
    });
    socket.once("close", (code) => reject(new Error(`The server closed the socket (${code}) before answering`)));
  });
  socket.send(JSON.stringify({ type: "Connect", sessionId: crypto.randomUUID(), connectionCount: 0, lastCloseReason: "InitialConnect", clientTs: 0 }));
  socket.send(
    `{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":0,"udfPath":${JSON.stringify(query.path)},"args":[${query.argsJson}]}]}`,
  );
  socket.send(`{"type":"Mutation","requestId":0,"udfPath":${JSON.stringify(mutation.path)},"args":[${mutation.argsJson}]}`);
  try {
    await done;
  } finally {
    socket.close();
  }
  return answers as { query: string | null; mutation: string | null };
}

describe("a field named __proto__ (or constructor, or prototype) in arguments", () => {
  it.each(["__proto__", "constructor", "prototype"])("is an extra field v.object refuses over HTTP: %s", async (field) => {
    const { result } = await underAttack(target, () => callHttp("mutation", "values:post", `{"body":"hi",${JSON.stringify(field)}:{"isAdmin":true}}`));
    expect(result.status).toBe("error");
    expect(result.errorMessage).toContain(`ArgumentValidationError: Object contains extra field \`${field}\` that is not in the validator.`);
  });

  it("is refused the same way over the sync socket, by v.object and by v.record", async () => {
    const { result } = await underAttack(target, () =>
      callSync(target, { path: "values:tally", argsJson: '{"counts":{"a":1,"__proto__":{"isAdmin":true}}}' }, { path: "values:post", argsJson: '{"body":"hi","__proto__":{"isAdmin":true}}' }),
    );
    expect(result.query).toContain("ArgumentValidationError: Value does not match validator.\nPath: .counts.__proto__\nValue: {isAdmin: true}");
    expect(result.mutation).toContain("ArgumentValidationError: Object contains extra field `__proto__` that is not in the validator.");
  });

  it("is a key v.record checks like any other: not a number, refused with Convex's error", async () => {
    const refused = await callHttp("query", "values:tally", '{"counts":{"__proto__":{"isAdmin":true}}}');
    expect(refused.status).toBe("error");
    expect(refused.errorMessage).toContain("ArgumentValidationError: Value does not match validator.\nPath: .counts.__proto__\nValue: {isAdmin: true}");
  });

  it("never reaches a handler: where validators let it through, it is refused with a clear error", async () => {
    // Inside the function the app's own `convex` package decodes arguments, and it would make such a field the prototype.
    const asNumber = await callHttp("query", "values:tally", '{"counts":{"__proto__":1}}');
    expect(asNumber.errorMessage).toContain("ArgumentValidationError: Field name __proto__ is not supported in function arguments");
    expect(asNumber.errorMessage).toContain("Path: .counts.__proto__");
    const inAny = await callHttp("mutation", "values:storeAny", '{"data":{"n":1,"nested":[{"__proto__":{"isAdmin":true}}]}}');
    expect(inAny.errorMessage).toContain("Path: .data.nested[0].__proto__");
  });

  it("keeps constructor and prototype as own fields, in arguments and through the database", async () => {
    const counted = await callHttp("query", "values:tally", '{"counts":{"constructor":2,"prototype":3}}');
    expect(counted).toMatchObject({ status: "success", value: { ownKeys: ["constructor", "prototype"], plainPrototype: true, isAdmin: false } });
    const stored = await callHttp("mutation", "values:storeAny", '{"data":{"constructor":{"isAdmin":true},"prototype":{"isAdmin":true},"n":1}}');
    expect(stored).toMatchObject({ status: "success", value: { shape: { ownKeys: ["constructor", "n", "prototype"], plainPrototype: true, isAdmin: false } } });
    const { id } = stored.value as { id: string };
    const read = await callHttp("query", "values:readAny", JSON.stringify({ id }));
    expect(read).toMatchObject({ status: "success", value: { data: { constructor: { isAdmin: true }, n: 1, prototype: { isAdmin: true } } } });
  });
});

describe("an argument that fails validation", () => {
  it("is quoted in the error, cut to a few KB however large it is", async () => {
    // Encoded before the attack: building 12 MiB of text would stall this process's own control client.
    const body = Buffer.from(requestBody("values:post", `{"body":"hi","padding":"${"x".repeat(12 * 1024 * 1024)}"}`));
    const { result } = await underAttack(target, () => post("mutation", body));
    expect(result.status).toBe("error");
    expect(result.errorMessage).toContain("ArgumentValidationError: Object contains extra field `padding` that is not in the validator.");
    expect(result.errorMessage).toContain("[...truncated]");
    expect(result.errorMessage!.length).toBeLessThan(5 * 1024);
  });
});
