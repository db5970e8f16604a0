import { NextResponse } from "next/server";
import { auth } from "./auth";

/**
 * Signed-out visitors of the signed-in pages go to the sign-in page, and come back after.
 * Each page checks the session again itself, and the Convex functions check the token: this
 * is the first line, not the only one.
 */
export const proxy = auth((request) => {
  if (request.auth) return NextResponse.next();
  const signIn = new URL("/api/auth/signin", request.nextUrl.origin);
  signIn.searchParams.set("callbackUrl", request.nextUrl.pathname + request.nextUrl.search);
  return NextResponse.redirect(signIn);
});

export const config = {
  matcher: ["/notes/:path*", "/account/:path*", "/pages-router/:path*"],
};
