import Link from "next/link";
import { devMailboxEnabled } from "../messages";

/** After asking for a link (Auth.js `pages.verifyRequest`). */
export default function CheckEmailPage() {
  return (
    <main>
      <h1>Check your email</h1>
      <p>A sign-in link is on its way. Open it in this browser; it works once and expires in 15 minutes.</p>
      {devMailboxEnabled() && (
        <p>
          Development: open the <Link href="/dev/mailbox">local mailbox</Link>.
        </p>
      )}
    </main>
  );
}
