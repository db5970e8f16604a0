/**
 * Development helpers: `DevMailbox()`, an Auth.js email provider that delivers magic links to a local
 * mailbox directory (and the server console) instead of sending email, and `readDevMailbox()` to read
 * them, e.g. in tests. Sign-in without any external service while developing.
 *
 * @example
 * ```ts
 * // auth.ts
 * import { DevMailbox } from "convex-authjs/dev";
 * export const { handlers, auth, signIn, signOut } = NextAuth({ providers: [DevMailbox()], ... });
 * ```
 *
 * @module
 */
export {
  DevMailbox,
  readDevMailbox,
  DEFAULT_DEV_MAILBOX_DIR,
  type DevMailboxMessage,
  type DevMailboxOptions,
} from "./mailbox.js";
