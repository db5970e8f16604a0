import type { GenericDataModel, GenericMutationCtx } from "convex/server";
import { ConvexError, type GenericId } from "convex/values";

/** At most `max` events per `windowMs`, counted from the first event of the window. */
export interface RateLimit {
  max: number;
  windowMs: number;
}

/** Sign-in limits of `defineAuthAdapter({ rateLimits })`; `false` turns one off. */
export interface SignInRateLimits {
  /** Magic-link emails to one address. Default 5 per hour. */
  magicLinkPerAddress?: RateLimit | false;
  /** Magic-link emails requested from one client address (any recipients). Default 20 per hour. */
  magicLinkPerClient?: RateLimit | false;
  /**
   * Passkey sign-ins to one account that failed: each attempt counts (Auth.js looks the passkey up
   * before it verifies it, `getAuthenticator`); at a verified one, `limitSignIns` refuses it when the
   * failures before it reached the limit in their window, and otherwise ends the count. Default 5
   * per 15 minutes.
   */
  passkeyFailuresPerAccount?: RateLimit | false;
}

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;

export const DEFAULT_SIGN_IN_RATE_LIMITS = {
  magicLinkPerAddress: { max: 5, windowMs: HOUR },
  magicLinkPerClient: { max: 20, windowMs: HOUR },
  passkeyFailuresPerAccount: { max: 5, windowMs: 15 * MINUTE },
} as const satisfies Required<SignInRateLimits>;

/** The buckets' names in the `authRateLimits` table. */
export const RateLimitName = {
  magicLinkPerAddress: "magicLink:address",
  magicLinkPerClient: "magicLink:client",
  passkeyFailuresPerAccount: "passkey:account",
} as const;

export type ResolvedSignInRateLimits = { [K in keyof SignInRateLimits]-?: RateLimit | false };

/** The limits with defaults filled in; refuses (when the module loads, so at push) a limit that is not two positive integers. */
export function resolveSignInRateLimits(options: SignInRateLimits = {}): ResolvedSignInRateLimits {
  const resolved = { ...DEFAULT_SIGN_IN_RATE_LIMITS, ...options } as ResolvedSignInRateLimits;
  for (const [name, limit] of Object.entries(resolved)) {
    if (limit === false) continue;
    if (!Number.isInteger(limit.max) || limit.max < 1 || !Number.isInteger(limit.windowMs) || limit.windowMs < 1) {
      throw new Error(`rateLimits.${name} must be false or { max, windowMs } with positive integers; got ${JSON.stringify(limit)}.`);
    }
  }
  return resolved;
}

/** One limit applied to one key (an address, a client address). */
export interface RateLimitCharge {
  name: string;
  key: string;
  limit: RateLimit;
}

export type RateLimitVerdict = { ok: true } | { ok: false; limit: string; retryAfterMs: number };

type Bucket = { _id: GenericId<"authRateLimits">; name: string; key: string; windowStart: number; count: number; expires: number };

/**
 * Counts one event against every charge, or against none: when any charge is at its limit the
 * event is refused and nothing is written. One mutation, so one serializable transaction:
 * concurrent requests cannot together pass a limit.
 */
export async function chargeRateLimits(ctx: GenericMutationCtx<GenericDataModel>, charges: RateLimitCharge[]): Promise<RateLimitVerdict> {
  const now = Date.now();
  const found: { charge: RateLimitCharge; bucket: Bucket | null; current: boolean }[] = [];
  for (const charge of charges) {
    const bucket = await bucketOf(ctx, charge.name, charge.key);
    const current = bucket !== null && now < bucket.windowStart + charge.limit.windowMs;
    if (current && bucket.count >= charge.limit.max) {
      return { ok: false, limit: charge.name, retryAfterMs: bucket.windowStart + charge.limit.windowMs - now };
    }
    found.push({ charge, bucket, current });
  }
  for (const { charge, bucket, current } of found) {
    if (bucket !== null && current) {
      await ctx.db.patch(bucket._id, { count: bucket.count + 1 });
    } else {
      const fresh = { windowStart: now, count: 1, expires: now + charge.limit.windowMs };
      if (bucket === null) await ctx.db.insert("authRateLimits", { name: charge.name, key: charge.key, ...fresh });
      else await ctx.db.patch(bucket._id, fresh);
    }
  }
  return { ok: true };
}

/**
 * Counts one passkey attempt on an account (Auth.js looks the passkey up before it verifies it):
 * always counted, so the signIn callback can tell the failures before a success.
 */
export async function recordPasskeyAttempt(ctx: GenericMutationCtx<GenericDataModel>, userId: string, limit: RateLimit): Promise<void> {
  const now = Date.now();
  const bucket = await bucketOf(ctx, RateLimitName.passkeyFailuresPerAccount, userId);
  if (bucket !== null && now < bucket.windowStart + limit.windowMs) {
    await ctx.db.patch(bucket._id, { count: bucket.count + 1 });
    return;
  }
  const fresh = { windowStart: now, count: 1, expires: now + limit.windowMs };
  if (bucket === null) await ctx.db.insert("authRateLimits", { name: RateLimitName.passkeyFailuresPerAccount, key: userId, ...fresh });
  else await ctx.db.patch(bucket._id, fresh);
}

/**
 * At a verified passkey sign-in: refused while the attempts before it that failed reach the limit
 * in their window (so a passkey that keeps failing locks the account's passkeys for the window,
 * the right one included); otherwise allowed, and the count ends.
 */
export async function passkeyVerdict(ctx: GenericMutationCtx<GenericDataModel>, userId: string, limit: RateLimit): Promise<RateLimitVerdict> {
  const now = Date.now();
  const bucket = await bucketOf(ctx, RateLimitName.passkeyFailuresPerAccount, userId);
  if (bucket === null) return { ok: true };
  const end = bucket.windowStart + limit.windowMs;
  // The attempt being verified counted itself.
  if (now < end && bucket.count - 1 >= limit.max) return { ok: false, limit: RateLimitName.passkeyFailuresPerAccount, retryAfterMs: end - now };
  await ctx.db.delete(bucket._id);
  return { ok: true };
}

async function bucketOf(ctx: GenericMutationCtx<GenericDataModel>, name: string, key: string): Promise<Bucket | null> {
  return (await ctx.db
    .query("authRateLimits")
    // A generic data model does not know the index's fields: `any`, as in functions.ts's findByIndex.
    .withIndex("by_name_key", (q: any) => q.eq("name", name).eq("key", key))
    .first()) as Bucket | null;
}

/** The charges of one magic-link request under `limits`. */
export function magicLinkCharges(limits: ResolvedSignInRateLimits, address: string, client: string | undefined): RateLimitCharge[] {
  if (address.trim() === "") throw new ConvexError("The address of a magic-link request must not be empty.");
  const charges: RateLimitCharge[] = [];
  if (limits.magicLinkPerAddress) {
    charges.push({ name: RateLimitName.magicLinkPerAddress, key: address.trim().toLowerCase(), limit: limits.magicLinkPerAddress });
  }
  if (limits.magicLinkPerClient && client !== undefined && client !== "") {
    charges.push({ name: RateLimitName.magicLinkPerClient, key: client, limit: limits.magicLinkPerClient });
  }
  return charges;
}
