import { NextResponse } from "next/server";
import { auth } from "./auth";
import { signInPath } from "./lib/signInPath";

/**
 * Signed-out visitors of the signed-in pages go to the sign-in page, and come back after.
 * Each page checks the session again itself, and the Convex functions check the token: this
 * is the first line, not the only one.
 */
export const proxy = auth((request) => {
  if (request.auth) return NextResponse.next();
  return NextResponse.redirect(new URL(signInPath(request.nextUrl.pathname + request.nextUrl.search), request.nextUrl.origin));
});

export const config = {
  matcher: ["/notes/:path*", "/account/:path*", "/pages-router/:path*"],
};
