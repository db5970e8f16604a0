import { randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { EmailConfig } from "@auth/core/providers/email";

/** Where `DevMailbox` keeps messages when no `dir` is given, relative to the working directory. */
export const DEFAULT_DEV_MAILBOX_DIR = ".dev-mailbox";

export interface DevMailboxOptions {
  /** The provider id, in `signIn(id)` and the callback URL. Default `"dev-mailbox"`. */
  id?: string;
  /** The name on Auth.js's sign-in page. Default `"Email (development mailbox)"`. */
  name?: string;
  /** The directory messages are written to (created, owner-only). Default `.dev-mailbox`. */
  dir?: string;
  /** How long a link is valid, in seconds. Default 15 minutes. */
  maxAge?: number;
  /** Where each message's link is announced; default one line on the server's stdout. `false`: nowhere. */
  log?: ((line: string) => void) | false;
}

/** A sign-in email as the development mailbox keeps it. */
export interface DevMailboxMessage {
  to: string;
  /** Auth.js's sign-in link (its `/callback/<id>` URL with the one-time token). */
  url: string;
  /** When the link stops working (ISO 8601). */
  expires: string;
  /** When it was "sent" (ISO 8601). */
  sentAt: string;
}

/**
 * An Auth.js email provider for development: instead of sending the magic link, it writes it to a
 * local mailbox directory (one JSON file per message) and prints it on the server's console, so
 * sign-in works with no mail server or external service. Read the messages with `readDevMailbox`.
 * Replace it with a real email provider (e.g. `next-auth/providers/nodemailer`) in production.
 *
 * @example
 * ```ts
 * // auth.ts
 * import { DevMailbox } from "convex-authjs/dev";
 * NextAuth({ providers: [DevMailbox()], adapter: ConvexAdapter(), ... });
 * ```
 */
export function DevMailbox(options: DevMailboxOptions = {}): EmailConfig {
  const dir = path.resolve(options.dir ?? DEFAULT_DEV_MAILBOX_DIR);
  const log = options.log === undefined ? (line: string) => console.log(line) : options.log;
  return {
    id: options.id ?? "dev-mailbox",
    type: "email",
    name: options.name ?? "Email (development mailbox)",
    maxAge: options.maxAge ?? 15 * 60,
    // Email providers need an `options` member: Auth.js merges user config into it.
    options: {},
    async sendVerificationRequest({ identifier, url, expires }) {
      const message: DevMailboxMessage = { to: identifier, url, expires: expires.toISOString(), sentAt: new Date().toISOString() };
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const name = `${message.sentAt.replace(/[:.]/g, "-")}-${randomUUID()}.json`;
      // Written whole, then renamed: a reader never sees half a message.
      const partial = path.join(dir, `.${name}.partial`);
      writeFileSync(partial, `${JSON.stringify(message, null, 2)}\n`, { mode: 0o600 });
      renameSync(partial, path.join(dir, name));
      if (log) log(`[dev mailbox] sign-in link for ${identifier}: ${url}`);
    },
  };
}

/** The messages in a development mailbox, oldest first; only those to `to` when given. */
export function readDevMailbox(dir: string = DEFAULT_DEV_MAILBOX_DIR, to?: string): DevMailboxMessage[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith(".json") && !name.startsWith("."));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names
    .sort()
    .map((name) => JSON.parse(readFileSync(path.join(dir, name), "utf8")) as DevMailboxMessage)
    .filter((message) => to === undefined || message.to === to);
}
