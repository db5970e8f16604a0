/**
 * Function paths are checked as Convex checks them before anything looks them up, so a client cannot
 * make the backend echo or print a path of megabytes (issue #13, findings 3 and 7): over HTTP a
 * 400 `BadConvexFunctionIdentifier`, over the sync socket a function error, each quoting at most
 * 200 characters of the path.
 */
import { describe, expect, it } from "vitest";
import { syncClient } from "../reliability/serverProcess.js";
import { securityTarget, underAttack } from "./target.js";

const target = securityTarget();
const HUGE_PATH = `${"y".repeat(4 << 20)}:f`;
/** Smaller over the socket: the attacking client shares this process with the control client. */
const LARGE_PATH = `${"y".repeat(1 << 20)}:f`;

describe("a function path of megabytes", () => {
  it("gets Convex's 400 over HTTP, quoted in a few hundred bytes and not printed whole", async () => {
    const { result } = await underAttack(target, async () => {
      const answers = [];
      for (const route of ["/api/query", "/api/mutation", "/api/action"]) {
        const response = await fetch(`${target.url}${route}`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ path: HUGE_PATH, args: {}, format: "json" }),
        });
        answers.push({ status: response.status, text: await response.text() });
      }
      return answers;
    });
    for (const { status, text } of result) {
      expect(status).toBe(400);
      expect(text.length).toBeLessThan(500);
      expect(JSON.parse(text)).toEqual({ code: "BadConvexFunctionIdentifier", message: expect.stringMatching(/^y+\[\.\.\.truncated\] is not a valid path to a Convex function\. Path component is too long \(4194307 > maximum 64\): y{64}\.\.\.$/) });
    }
  });

  it("fails the subscription and the mutation over the sync socket with the same short message", async () => {
    const client = syncClient(target.url);
    try {
      const { result } = await underAttack(target, async () => {
        const queryError = await new Promise<Error>((resolve) => client.onUpdate(LARGE_PATH as never, {}, () => {}, resolve));
        const mutationError = await client.mutation(LARGE_PATH as never, {}).then(() => undefined, (error: Error) => error);
        return [queryError, mutationError];
      });
      for (const error of result) {
        expect(error?.message).toMatch(/is not a valid path to a Convex function\. Path component is too long \(1048579 > maximum 64\)/);
        // The client itself prefixes the path it called (`[CONVEX Q(<path>)] `); what the server sent follows.
        const fromServer = error!.message.slice(error!.message.indexOf(")] ") + 3);
        expect(fromServer.length).toBeLessThan(600);
      }
    } finally {
      await client.close();
    }
  });
});
