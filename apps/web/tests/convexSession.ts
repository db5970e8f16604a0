/**
 * Callers for the app's Convex functions under `convex-test`, signed in the way the Next.js
 * server's token signs them in: `sub` is the user, `sid` the Auth.js session it was minted for.
 */
import type { TestConvex } from "convex-test";
import type { Id } from "../convex/_generated/dataModel";
import type schema from "../convex/schema";

const ISSUER = "http://127.0.0.1:3211";
const DAY = 24 * 60 * 60 * 1000;

/** The identity of a token for `userId` and its session `sessionId`. */
export function signedIn(t: TestConvex<typeof schema>, userId: Id<"users">, sessionId: Id<"sessions">) {
  return t.withIdentity({ subject: userId, issuer: ISSUER, sid: sessionId });
}

/** Opens a session for `userId` (as Auth.js does at sign-in) and returns a caller signed in with it. */
export async function signInAs(t: TestConvex<typeof schema>, userId: Id<"users">) {
  const sessionId = await t.run((ctx) => ctx.db.insert("sessions", { userId, sessionToken: crypto.randomUUID(), expires: Date.now() + DAY }));
  return { caller: signedIn(t, userId, sessionId), sessionId };
}
