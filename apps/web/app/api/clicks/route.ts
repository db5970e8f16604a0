import { ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";
import { NextResponse } from "next/server";
import { api } from "@/convex/_generated/api";
import { convex } from "@/lib/convex";

function deploymentUrl(): string {
  const url = process.env.NEXT_PUBLIC_CONVEX_URL;
  if (!url) {
    throw new Error("NEXT_PUBLIC_CONVEX_URL is not set: start the app with `npm run dev`, which writes it to apps/web/.env.local.");
  }
  return url;
}

const url = deploymentUrl();
// Reads need no identity, so one client serves every GET.
const anonymous = new ConvexHttpClient(url);

/** GET /api/clicks → {"clicks": n}; anyone may read it. */
export async function GET() {
  const clicks = await anonymous.query(api.counter.get, { counterName: "clicks" });
  return NextResponse.json({ clicks });
}

/**
 * POST /api/clicks → {"clicks": n + 1}, signed-in users only (401 otherwise). The session
 * cookie is SameSite=Lax, so another site cannot make a visitor's browser click.
 */
export async function POST() {
  const token = await convex.convexToken();
  if (token === undefined) {
    return NextResponse.json({ error: "Sign in to click." }, { status: 401 });
  }
  // A client per request: setAuth is client state, and a shared one would mix users up.
  const client = new ConvexHttpClient(url);
  client.setAuth(token);
  try {
    const clicks = await client.mutation(api.counter.increment, { counterName: "clicks" });
    return NextResponse.json({ clicks });
  } catch (error) {
    if (error instanceof ConvexError) {
      const { code, message } = error.data as { code: string; message: string };
      return NextResponse.json({ error: message }, { status: code === "UNAUTHENTICATED" ? 401 : 400 });
    }
    throw error;
  }
}
