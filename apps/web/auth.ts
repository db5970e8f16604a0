import NextAuth from "next-auth";
import type { Provider } from "next-auth/providers";
import GitHub from "next-auth/providers/github";
import { ConvexAdapter } from "convex-authjs/adapter";
import { convexSessionCallback } from "convex-authjs/jwt";

/**
 * Sign-in providers, each enabled by its environment variables only, so the
 * app starts (and serves its public pages) with none configured.
 */
function configuredProviders(env = process.env): Provider[] {
  const providers: Provider[] = [];
  if (env.AUTH_OIDC_ISSUER) {
    // Any OpenID Connect provider (a local one in development): discovery from the issuer.
    providers.push({
      id: "oidc",
      name: env.AUTH_OIDC_NAME || "OpenID Connect",
      type: "oidc",
      issuer: env.AUTH_OIDC_ISSUER,
      clientId: env.AUTH_OIDC_ID,
      clientSecret: env.AUTH_OIDC_SECRET,
    });
  }
  if (env.AUTH_GITHUB_ID && env.AUTH_GITHUB_SECRET) {
    providers.push(GitHub({ clientId: env.AUTH_GITHUB_ID, clientSecret: env.AUTH_GITHUB_SECRET }));
  }
  return providers;
}

export const providers = configuredProviders();

const addConvexToken = convexSessionCallback();

export const { handlers, auth, signIn, signOut } = NextAuth({
  providers,
  // Users, accounts and sessions live in Convex (convex/authAdapter.ts).
  // Reads NEXT_PUBLIC_CONVEX_URL and CONVEX_AUTH_ADAPTER_SECRET at each call.
  adapter: ConvexAdapter(),
  session: { strategy: "database" },
  callbacks: {
    // Adds `convexToken` (signed with CONVEX_AUTH_PRIVATE_KEY, verified by Convex against JWKS).
    // The session goes to the browser (/api/auth/session): only public fields, never the
    // database session's sessionToken, which the httpOnly cookie is there to keep from scripts.
    async session(params) {
      const { convexToken } = await addConvexToken(params);
      const { id, name, email, image } = params.session.user;
      return { user: { id, name, email, image }, expires: params.session.expires, convexToken } as typeof params.session;
    },
  },
});
