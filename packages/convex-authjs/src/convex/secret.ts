import { ConvexError } from "convex/values";
import { Env, ErrorCode, type AdapterErrorData } from "../shared/protocol.js";

const encoder = new TextEncoder();

/**
 * Compares two strings in time that depends only on their lengths, not on
 * where they differ. Convex's default runtime has no `node:crypto`, hence the
 * hand-written loop. A length difference is folded into the result instead of
 * returning early, and the loop runs over the longer input.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  const length = Math.max(left.length, right.length);
  let difference = left.length ^ right.length;
  for (let i = 0; i < length; i++) {
    // Out-of-range reads are undefined; `| 0` turns them into 0 without a branch.
    difference |= (left[i] | 0) ^ (right[i] | 0);
  }
  return difference === 0;
}

/**
 * Refuses the call unless `provided` equals the deployment's
 * `CONVEX_AUTH_ADAPTER_SECRET`. An unset or empty deployment secret refuses
 * every call, and so does a missing or non-string `provided`. Neither secret
 * ever appears in the error.
 */
export function assertAdapterSecret(provided: unknown): void {
  const expected = process.env[Env.adapterSecret];
  if (expected === undefined || expected === "") {
    throw new ConvexError<AdapterErrorData>({
      code: ErrorCode.secretNotConfigured,
      message: `${Env.adapterSecret} is not set on this Convex deployment; set it to the value the Next.js server uses.`,
    });
  }
  if (typeof provided !== "string") {
    throw new ConvexError<AdapterErrorData>({
      code: ErrorCode.secretMismatch,
      message: `The call carries no adapter secret: the adapter sends ${Env.adapterSecret} as the \`secret\` argument.`,
    });
  }
  if (!constantTimeEqual(provided, expected)) {
    throw new ConvexError<AdapterErrorData>({
      code: ErrorCode.secretMismatch,
      message: `The caller's ${Env.adapterSecret} does not match this deployment's.`,
    });
  }
}
