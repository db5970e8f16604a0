import Link from "next/link";
import { Fragment } from "react";
import { getMessage } from "../mailbox";

export const dynamic = "force-dynamic";

const URL_PATTERN = /(https?:\/\/[^\s<>"]+)/g;

/** The message's plain text with its web links clickable (the HTML part is not rendered: no foreign markup). */
function TextWithLinks({ text }: { text: string }) {
  return (
    <pre style={{ whiteSpace: "pre-wrap" }}>
      {text.split(URL_PATTERN).map((part, index) =>
        index % 2 === 1 ? (
          <a key={index} href={part}>
            {part}
          </a>
        ) : (
          <Fragment key={index}>{part}</Fragment>
        ),
      )}
    </pre>
  );
}

export default async function MailboxMessagePage({ params }: { params: Promise<{ id: string }> }) {
  const message = await getMessage((await params).id);
  return (
    <main>
      <header>
        <h1>{message.subject || "(no subject)"}</h1>
        <Link href="/dev/mailbox">Mailbox</Link>
      </header>
      <dl>
        <dt>From</dt>
        <dd>{message.from}</dd>
        <dt>To</dt>
        <dd data-testid="mail-to">{message.to.join(", ")}</dd>
        <dt>Date</dt>
        <dd>{message.date}</dd>
      </dl>
      <TextWithLinks text={message.text} />
    </main>
  );
}
