import { redirect } from "next/navigation";
import { signInPath } from "@/lib/signInPath";
import { auth } from "@/auth";
import { SignOutButton } from "../AuthButtons";
import { Nav } from "../Nav";
import { Notes } from "./Notes";

export default async function NotesPage() {
  // proxy.ts already turns signed-out visitors away; checked again where the data is served.
  const session = await auth();
  if (!session) redirect(signInPath("/notes"));
  return (
    <main>
      <header>
        <h1>Notes</h1>
        <span>
          {session.user?.email ?? session.user?.name} <SignOutButton />
        </span>
      </header>
      <Nav />
      <p className="muted">
        Loaded and kept live by the browser&apos;s Convex client (<code>useQuery</code>); open a second tab to watch
        changes arrive.
      </p>
      <Notes />
    </main>
  );
}
