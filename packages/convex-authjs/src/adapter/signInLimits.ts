import type { ConvexAdapterMethods, MagicLinkVerdict } from "./adapter.js";

/** A refusal of `limitMagicLink`: which limit, and how long until it allows another request. */
export type MagicLinkRefusal = Extract<MagicLinkVerdict, { ok: false }>;

export interface LimitSignInsOptions {
  /**
   * The address of the client making the current request, for the per-client limit. Default: in
   * Next.js, the first address of the request's `X-Forwarded-For` header, else `X-Real-IP` (as your
   * host or proxy sets them; behind none, a client can choose them). Return undefined to apply only
   * the per-address limit.
   */
  clientAddress?: () => string | undefined | Promise<string | undefined>;
  /**
   * Where a refused request goes: a URL (e.g. your sign-in page with a message saying when to try
   * again), or false for Auth.js's error page (`AccessDenied`), the default. Auth.js redirects to
   * the URL only if its `redirect` callback allows it (by default: same origin, or a path).
   */
  whenRefused?: (refusal: MagicLinkRefusal) => string | false;
}

/** The parameters of Auth.js's `signIn` callback this callback reads. */
interface SignInParams {
  user: { email?: string | null };
  email?: { verificationRequest?: boolean };
}

/**
 * An Auth.js `signIn` callback that enforces the deployment's sign-in rate limits on magic-link
 * requests (`defineAuthAdapter({ rateLimits })`): per recipient address and per client address,
 * counted in one Convex transaction, so concurrent requests cannot exceed them. A refused request
 * ends on Auth.js's error page (`AccessDenied`) or where `whenRefused` sends it, before a token is
 * stored or an email sent; other sign-ins pass through. Compose it with your own checks by calling
 * it from yours.
 *
 * @example
 * ```ts
 * const adapter = ConvexAdapter();
 * export const { handlers, auth, signIn, signOut } = NextAuth({
 *   adapter,
 *   callbacks: {
 *     signIn: limitSignIns(adapter, {
 *       whenRefused: ({ retryAfterMs }) => `/signin?error=TooManySignInLinks&minutes=${Math.ceil(retryAfterMs / 60_000)}`,
 *     }),
 *   },
 *   ...
 * });
 * ```
 */
export function limitSignIns(adapter: Pick<ConvexAdapterMethods, "limitMagicLink">, options: LimitSignInsOptions = {}) {
  const clientAddress = options.clientAddress ?? forwardedClientAddress;
  const whenRefused = options.whenRefused ?? (() => false);
  return async function signIn({ user, email }: SignInParams): Promise<boolean | string> {
    if (!email?.verificationRequest || !user.email) return true;
    const verdict = await adapter.limitMagicLink({ address: user.email, client: await clientAddress() });
    return verdict.ok || whenRefused(verdict);
  };
}

/** The client address Next.js's request headers report, or undefined outside a Next.js request. */
async function forwardedClientAddress(): Promise<string | undefined> {
  let headers: Headers;
  try {
    const next = await import("next/headers.js");
    headers = (await next.headers()) as unknown as Headers;
  } catch {
    return undefined;
  }
  const forwarded = headers.get("x-forwarded-for")?.split(",")[0]?.trim();
  return forwarded || headers.get("x-real-ip")?.trim() || undefined;
}
