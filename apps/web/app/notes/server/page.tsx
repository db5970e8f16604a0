import { redirect } from "next/navigation";
import { signInPath } from "@/lib/signInPath";
import { auth } from "@/auth";
import { api } from "@/convex/_generated/api";
import { convex } from "@/lib/convex";
import { Nav } from "../../Nav";

function utc(milliseconds: number): string {
  return `${new Date(milliseconds).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export default async function ServerNotesPage() {
  const session = await auth();
  if (!session) redirect(signInPath("/notes/server"));
  // A one-off authenticated query: plain HTML, no client code, not live.
  const notes = await convex.fetchQuery(api.notes.list, {});
  return (
    <main>
      <header>
        <h1>Notes, server-rendered</h1>
      </header>
      <Nav />
      <p className="muted">
        Fetched with <code>fetchQuery</code> as {session.user?.email ?? "you"} while rendering this page; reload to see
        changes.
      </p>
      {notes.length === 0 ? (
        <p>No notes yet.</p>
      ) : (
        <ul className="notes">
          {notes.map((note) => (
            <li key={note._id}>
              <span>{note.text}</span>
              <time className="muted" dateTime={new Date(note.updatedAt).toISOString()}>
                {utc(note.updatedAt)}
              </time>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
