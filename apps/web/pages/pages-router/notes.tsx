import { useQuery } from "convex/react";
import type { GetServerSideProps, InferGetServerSidePropsType } from "next";
import Head from "next/head";
import Link from "next/link";
import type { Session } from "next-auth";
import { convexForSession } from "convex-authjs/next";
import { signInPath } from "@/lib/signInPath";
import { auth } from "@/auth";
import { ConvexClientProvider } from "@/app/ConvexClientProvider";
import { api } from "@/convex/_generated/api";
import type { Doc } from "@/convex/_generated/dataModel";

export const getServerSideProps = (async (ctx) => {
  // auth(ctx) reads the session cookie; fetchQuery then runs as that session's user.
  // (Not convex.forRequest(ctx): its parameter type is taken from auth's last overload.)
  const session = await auth(ctx);
  const { fetchQuery } = convexForSession(session);
  if (!session) {
    return { redirect: { destination: signInPath(ctx.resolvedUrl), permanent: false } };
  }
  const notes = await fetchQuery(api.notes.list, {});
  // Props must be JSON: Next.js refuses `undefined` values, which a session may hold.
  return { props: { session: JSON.parse(JSON.stringify(session)) as Session, notes } };
}) satisfies GetServerSideProps<{ session: Session; notes: Doc<"notes">[] }>;

export default function PagesRouterNotes({ session, notes }: InferGetServerSidePropsType<typeof getServerSideProps>) {
  return (
    <ConvexClientProvider session={session}>
      <Head>
        <title>Notes (Pages Router) · Convex + Auth.js</title>
      </Head>
      <main>
        <header>
          <h1>Notes, Pages Router</h1>
          <span>{session.user?.email}</span>
        </header>
        <nav aria-label="Pages">
          <Link href="/">Home</Link>
          <Link href="/notes">Notes</Link>
          <Link href="/account">Account</Link>
        </nav>
        <p className="muted">
          Rendered by <code>getServerSideProps</code> with an authenticated <code>fetchQuery</code>, then kept live by{" "}
          <code>useQuery</code>.
        </p>
        <LiveNotes initial={notes} />
      </main>
    </ConvexClientProvider>
  );
}

function LiveNotes({ initial }: { initial: Doc<"notes">[] }) {
  // The server's list until the browser's subscription answers.
  const notes = useQuery(api.notes.list) ?? initial;
  return notes.length === 0 ? (
    <p>No notes yet.</p>
  ) : (
    <ul className="notes">
      {notes.map((note) => (
        <li key={note._id}>
          <span>{note.text}</span>
        </li>
      ))}
    </ul>
  );
}
