import type { ConvexAdapterMethods, SignInVerdict } from "./adapter.js";

/** A sign-in limit's refusal: which limit (`magicLink:address`, `magicLink:client`, `passkey:account`), and how long until it allows another sign-in. */
export type SignInRefusal = Extract<SignInVerdict, { ok: false }>;

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
  whenRefused?: (refusal: SignInRefusal) => string | false;
}

/** The parameters of Auth.js's `signIn` callback this callback reads. */
interface SignInParams {
  user: { id?: string; email?: string | null };
  account?: { type?: string } | null;
  email?: { verificationRequest?: boolean };
}

/**
 * An Auth.js `signIn` callback that enforces the deployment's sign-in rate limits
 * (`defineAuthAdapter({ rateLimits })`), each counted in one Convex transaction, so concurrent
 * requests cannot exceed them:
 * - magic-link requests per recipient address and per client address, refused before a token is
 *   stored or an email sent;
 * - failed passkey sign-ins per account (Auth.js verifies a passkey before this callback runs; the
 *   adapter counted the attempts): a verified one is refused while the failures before it reached
 *   the limit in their window.
 * A refused sign-in ends on Auth.js's error page (`AccessDenied`) or where `whenRefused` sends it;
 * other sign-ins pass through. Compose it with your own checks by calling it from yours.
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
export function limitSignIns(adapter: Pick<ConvexAdapterMethods, "limitMagicLink" | "limitPasskey">, options: LimitSignInsOptions = {}) {
  const clientAddress = options.clientAddress ?? forwardedClientAddress;
  const whenRefused = options.whenRefused ?? (() => false);
  return async function signIn({ user, account, email }: SignInParams): Promise<boolean | string> {
    let verdict: SignInVerdict;
    if (email?.verificationRequest && user.email) {
      verdict = await adapter.limitMagicLink({ address: user.email, client: await clientAddress() });
    } else if (account?.type === "webauthn" && user.id) {
      // A verified passkey (or one just registered): the account's failed attempts before it decide.
      verdict = await adapter.limitPasskey({ userId: user.id });
    } else {
      return true;
    }
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
