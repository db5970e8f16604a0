import Link from "next/link";
import { listMessages } from "./mailbox";

export const dynamic = "force-dynamic";

/** Development only: the emails the local SMTP server received (404 in production). */
export default async function MailboxPage() {
  const messages = await listMessages();
  return (
    <main>
      <header>
        <h1>Development mailbox</h1>
        <Link href="/">Home</Link>
      </header>
      <p className="muted">Every email the app sent through the local SMTP server. Not available in production.</p>
      {messages.length === 0 ? (
        <p>No messages yet.</p>
      ) : (
        <ul data-testid="mailbox">
          {messages.map((message) => (
            <li key={message.id}>
              <Link href={`/dev/mailbox/${message.id}`}>
                To {message.to.join(", ")}: {message.subject}
              </Link>{" "}
              <span className="muted">{message.date}</span>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
