import { NextResponse } from "next/server";
import { auth } from "./auth";

/** Signed-out visitors of the signed-in area go to the sign-in page, and come back after. */
export const proxy = auth((request) => {
  if (request.auth) return NextResponse.next();
  const signIn = new URL("/api/auth/signin", request.nextUrl.origin);
  signIn.searchParams.set("callbackUrl", request.nextUrl.pathname + request.nextUrl.search);
  return NextResponse.redirect(signIn);
});

export const config = {
  matcher: ["/notes/:path*"],
};
