import Link from "next/link";
import { redirect } from "next/navigation";
import { signInPath } from "@/lib/signInPath";
import { auth } from "@/auth";
import { api } from "@/convex/_generated/api";
import { convex } from "@/lib/convex";
import { Nav } from "../../Nav";
import { PreloadedNotes } from "../Notes";

export default async function PreloadedNotesPage() {
  const session = await auth();
  if (!session) redirect(signInPath("/notes/preloaded"));
  // Runs the query as the user on the server: the HTML already lists the notes, and the
  // browser's client takes over the same query, live, once it connects.
  const preloaded = await convex.preloadQuery(api.notes.list, {});
  return (
    <main>
      <header>
        <h1>Notes, preloaded</h1>
      </header>
      <Nav />
      <p className="muted">
        Server-rendered with <code>preloadQuery</code>, then live with <code>usePreloadedQuery</code>.{" "}
        <Link href="/notes">Client-only version</Link>
      </p>
      <PreloadedNotes preloaded={preloaded} />
    </main>
  );
}
