import Link from "next/link";
import { AuthLoading, Authenticated, Unauthenticated } from "./AuthGates";
import { SignInButtons, SignOutButton } from "./AuthButtons";
import { ClicksCounter } from "./ClicksCounter";
import { Nav, PAGES } from "./Nav";

export default function Home() {
  return (
    <main>
      <header>
        <h1>Convex + Auth.js</h1>
      </header>
      <Nav />
      <p>
        Users, sessions and notes live in a Convex deployment; Auth.js signs people in and the Next.js server mints the
        token Convex verifies.
      </p>
      {/* Convex's own view of the sign-in: it flips once the browser's Convex client is authenticated. */}
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
      <h2>Clicks</h2>
      <ClicksCounter />
      <h2>What each page shows</h2>
      <dl className="pages">
        {PAGES.map(({ href, label, what }) => (
          <div key={href}>
            <dt>
              <Link href={href}>{label}</Link>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
    </main>
  );
}
