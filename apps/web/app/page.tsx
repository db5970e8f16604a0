import Link from "next/link";
import { AuthLoading, Authenticated, Unauthenticated } from "./AuthGates";
import { SignInButtons, SignOutButton } from "./AuthButtons";

export default function Home() {
  return (
    <main>
      <header>
        <h1>Convex + Auth.js</h1>
      </header>
      <p>
        Users, sessions and notes live in a Convex deployment; Auth.js signs people in and the Next.js server mints the
        token Convex verifies.
      </p>
      <AuthLoading>
        <p>Loading…</p>
      </AuthLoading>
      <Unauthenticated>
        <p>You are signed out.</p>
        <SignInButtons />
      </Unauthenticated>
      <Authenticated>
        <p>
          You are signed in. <Link href="/notes">Your notes</Link>
        </p>
        <SignOutButton />
      </Authenticated>
    </main>
  );
}
