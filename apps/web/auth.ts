import NextAuth from "next-auth";
import type { Provider } from "next-auth/providers";
import GitHub from "next-auth/providers/github";
import Nodemailer from "next-auth/providers/nodemailer";
import Passkey from "next-auth/providers/passkey";
import { createTransport } from "nodemailer";
import { ConvexAdapter, limitSignIns } from "convex-authjs/adapter";
import { convexSessionCallback } from "convex-authjs/jwt";

/** Where the link in a sign-in email leads: a page whose button uses the token (see app/signin/confirm). */
function confirmationUrl(authCallbackUrl: string): string {
  const callback = new URL(authCallbackUrl);
  const confirm = new URL("/signin/confirm", callback.origin);
  confirm.search = callback.search;
  return confirm.href;
}

/**
 * Sends the magic link over SMTP (EMAIL_SERVER). The link opens a confirmation page instead of
 * Auth.js's callback, so a mail scanner that fetches every link does not use up the one-time token.
 */
async function sendSignInLink({ identifier, url, provider }: { identifier: string; url: string; provider: { server?: unknown; from?: string } }) {
  const link = confirmationUrl(url);
  const { host } = new URL(link);
  const transport = createTransport(provider.server as Parameters<typeof createTransport>[0]);
  const result = await transport.sendMail({
    to: identifier,
    from: provider.from,
    subject: `Sign in to ${host}`,
    text: `Open this link to sign in to ${host}:\n\n${link}\n\nIf you did not ask to sign in, ignore this email.\n`,
    html: `<p>Open this link to sign in to <b>${host}</b>:</p><p><a href="${link}">Sign in</a></p><p>If you did not ask to sign in, ignore this email.</p>`,
  });
  const failed = [...result.rejected, ...(result.pending ?? [])].filter(Boolean);
  if (failed.length > 0) throw new Error(`The sign-in email to ${failed.join(", ")} could not be sent.`);
}

/**
 * Sign-in providers, each enabled by its environment variables, so the app starts (and serves its
 * public pages) with none configured. `npm run dev` configures email (local SMTP) and OIDC (local IdP).
 */
function configuredProviders(env = process.env): Provider[] {
  const providers: Provider[] = [];
  if (env.EMAIL_SERVER) {
    providers.push(
      Nodemailer({
        server: env.EMAIL_SERVER,
        from: env.EMAIL_FROM || "Convex + Auth.js <no-reply@localhost>",
        maxAge: 15 * 60,
        sendVerificationRequest: sendSignInLink,
      }),
    );
  }
  if (env.AUTH_OIDC_ISSUER) {
    // Any OpenID Connect provider (the local one in development): discovery from the issuer.
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
  // Passkeys are stored by the adapter (authenticators table); registering one needs a signed-in user.
  providers.push(Passkey);
  return providers;
}

export const providers = configuredProviders();

const addConvexToken = convexSessionCallback();

// Users, accounts and sessions live in Convex (convex/authAdapter.ts).
// Reads NEXT_PUBLIC_CONVEX_URL and CONVEX_AUTH_ADAPTER_SECRET at each call.
const adapter = ConvexAdapter();

export const { handlers, auth, signIn, signOut } = NextAuth({
  providers,
  adapter,
  session: { strategy: "database" },
  experimental: { enableWebAuthn: true },
  pages: { signIn: "/signin", verifyRequest: "/signin/check-email", error: "/signin/error" },
  callbacks: {
    // Sign-in limits, counted in Convex (the defaults of convex/authAdapter.ts's defineAuthAdapter):
    // magic links, at most 5 an hour per address and 20 per client address; passkeys, an account
    // whose passkey sign-ins failed 5 times in 15 minutes takes none until then. A refused sign-in
    // goes back to the sign-in page, which says when to try again.
    signIn: limitSignIns(adapter, {
      whenRefused: ({ limit, retryAfterMs }) =>
        `/signin?${new URLSearchParams({
          error: limit.startsWith("passkey:") ? "TooManyPasskeyFailures" : "TooManySignInLinks",
          minutes: String(Math.ceil(retryAfterMs / 60_000)),
        })}`,
    }),
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
