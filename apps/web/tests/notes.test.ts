import { convexTest } from "convex-test";
import { describe, expect, test } from "vitest";
import { api } from "../convex/_generated/api";
import schema from "../convex/schema";
import { MAX_NOTE_LENGTH } from "../convex/limits";
import { signInAs } from "./convexSession";

const modules = import.meta.glob("../convex/**/!(*.*.*)*.*s");

/** A backend with two users, each acting through the identity a Convex token would give. */
async function setup() {
  const t = convexTest(schema, modules);
  const [alice, bob] = await t.run(async (ctx) => [
    await ctx.db.insert("users", { email: "alice@example.com" }),
    await ctx.db.insert("users", { email: "bob@example.com" }),
  ]);
  const aliceSession = await signInAs(t, alice);
  return { t, alice: aliceSession.caller, bob: (await signInAs(t, bob)).caller, aliceId: alice, aliceSessionId: aliceSession.sessionId };
}

async function errorOf(promise: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  try {
    await promise;
  } catch (error) {
    return (error as { data?: { code: string; message: string } }).data ?? { message: (error as Error).message };
  }
  throw new Error("expected the call to fail");
}

describe("notes", () => {
  test("a user lists, updates and removes their own notes", async () => {
    const { alice, aliceId } = await setup();
    const id = await alice.mutation(api.notes.create, { text: "  first  " });
    await alice.mutation(api.notes.create, { text: "second" });
    expect((await alice.query(api.notes.list, {})).map((n) => n.text)).toEqual(["second", "first"]);

    await alice.mutation(api.notes.update, { id, text: "first, edited" });
    const notes = await alice.query(api.notes.list, {});
    expect(notes.find((n) => n._id === id)).toMatchObject({ text: "first, edited", userId: aliceId });

    await alice.mutation(api.notes.remove, { id });
    expect((await alice.query(api.notes.list, {})).map((n) => n.text)).toEqual(["second"]);
  });

  test("another user's notes are neither listed nor changeable", async () => {
    const { t, alice, bob } = await setup();
    const id = await alice.mutation(api.notes.create, { text: "alice's secret" });

    expect(await bob.query(api.notes.list, {})).toEqual([]);
    expect(await errorOf(bob.mutation(api.notes.update, { id, text: "bob was here" }))).toMatchObject({ code: "NOT_FOUND" });
    expect(await errorOf(bob.mutation(api.notes.remove, { id }))).toMatchObject({ code: "NOT_FOUND" });

    const stored = await t.run((ctx) => ctx.db.get(id));
    expect(stored?.text).toBe("alice's secret");
  });

  test("signed-out callers see nothing and change nothing", async () => {
    const { t, alice } = await setup();
    const id = await alice.mutation(api.notes.create, { text: "mine" });
    expect(await t.query(api.notes.list, {})).toEqual([]);
    expect(await errorOf(t.mutation(api.notes.create, { text: "anonymous" }))).toMatchObject({ code: "UNAUTHENTICATED" });
    expect(await errorOf(t.mutation(api.notes.remove, { id }))).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  test("a token whose session was deleted (signed out elsewhere) is treated as signed out", async () => {
    const { t, alice, aliceSessionId } = await setup();
    await alice.mutation(api.notes.create, { text: "mine" });
    await t.run((ctx) => ctx.db.delete(aliceSessionId));
    expect(await alice.query(api.notes.list, {})).toEqual([]);
    expect(await errorOf(alice.mutation(api.notes.create, { text: "x" }))).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  test("a token whose subject is not a user id is treated as signed out", async () => {
    const { t } = await setup();
    const stranger = t.withIdentity({ subject: "not-a-user-id" });
    expect(await stranger.query(api.notes.list, {})).toEqual([]);
    expect(await errorOf(stranger.mutation(api.notes.create, { text: "x" }))).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  test("empty and oversized text is refused with a clear error", async () => {
    const { alice } = await setup();
    for (const text of ["", "   \n\t "]) {
      expect(await errorOf(alice.mutation(api.notes.create, { text }))).toEqual({
        code: "INVALID_NOTE",
        message: "A note cannot be empty.",
      });
    }
    const tooLong = "x".repeat(MAX_NOTE_LENGTH + 1);
    expect(await errorOf(alice.mutation(api.notes.create, { text: tooLong }))).toMatchObject({
      code: "INVALID_NOTE",
      message: expect.stringContaining(`at most ${MAX_NOTE_LENGTH} characters`),
    });
    await alice.mutation(api.notes.create, { text: "x".repeat(MAX_NOTE_LENGTH) });

    const id = await alice.mutation(api.notes.create, { text: "keep me" });
    expect(await errorOf(alice.mutation(api.notes.update, { id, text: " " }))).toMatchObject({ code: "INVALID_NOTE" });
    expect((await alice.query(api.notes.list, {})).find((n) => n._id === id)?.text).toBe("keep me");
  });

  test("tampered ids get the same clear \"not found\" and change nothing", async () => {
    const { t, alice, aliceId } = await setup();
    const id = await alice.mutation(api.notes.create, { text: "untouched" });
    // Not an id at all, an id of another table (a user), and a note id with its last character changed.
    const tampered = ["not-an-id", aliceId, id.slice(0, -1) + (id.endsWith("a") ? "b" : "a")];
    for (const bad of tampered) {
      expect(await errorOf(alice.mutation(api.notes.update, { id: bad, text: "changed" }))).toEqual({
        code: "NOT_FOUND",
        message: "Note not found.",
      });
      expect(await errorOf(alice.mutation(api.notes.remove, { id: bad }))).toMatchObject({ code: "NOT_FOUND" });
    }
    expect(await t.run((ctx) => ctx.db.get(id))).toMatchObject({ text: "untouched" });
  });
});
