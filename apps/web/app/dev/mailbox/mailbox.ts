import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { notFound } from "next/navigation";
import { devMailboxEnabled } from "../../signin/messages";

/** A message as the development SMTP server (scripts/dev-services.mjs) stores it. */
export interface MailMessage {
  id: string;
  date: string;
  from: string;
  to: string[];
  subject: string;
  text: string;
}

const MESSAGE_ID = /^\d+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The mailbox directory; a 404 in production or when `npm run dev` did not set one up. */
function mailboxDir(): string {
  if (!devMailboxEnabled()) notFound();
  return process.env.DEV_MAILBOX_DIR!;
}

/** Every message, newest first. */
export async function listMessages(): Promise<MailMessage[]> {
  const dir = mailboxDir();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const ids = names.filter((name) => name.endsWith(".json")).map((name) => name.slice(0, -5)).filter((id) => MESSAGE_ID.test(id));
  ids.sort().reverse();
  return Promise.all(ids.map(readMessageFile));
}

async function readMessageFile(id: string): Promise<MailMessage> {
  return JSON.parse(await readFile(path.join(mailboxDir(), `${id}.json`), "utf8")) as MailMessage;
}

/** One message; 404 for an id that is malformed (no paths outside the mailbox) or absent. */
export async function getMessage(id: string): Promise<MailMessage> {
  if (!MESSAGE_ID.test(id)) notFound();
  try {
    return await readMessageFile(id);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") notFound();
    throw error;
  }
}
