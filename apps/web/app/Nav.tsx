import Link from "next/link";

/** Every page of the app, each showing one way to use Convex with Auth.js. */
export const PAGES = [
  { href: "/", label: "Home", what: "Authenticated / Unauthenticated / AuthLoading" },
  { href: "/notes", label: "Notes", what: "useQuery + useMutation, live across tabs" },
  { href: "/notes/preloaded", label: "Preloaded", what: "preloadQuery on the server, usePreloadedQuery in the browser" },
  { href: "/notes/server", label: "Server-rendered", what: "fetchQuery in a server component" },
  { href: "/pages-router/notes", label: "Pages Router", what: "getServerSideProps with an authenticated fetchQuery" },
  { href: "/account", label: "Account", what: "linked accounts, passkeys, sign out everywhere" },
] as const;

export function Nav() {
  return (
    <nav aria-label="Pages">
      {PAGES.map(({ href, label }) => (
        <Link key={href} href={href}>
          {label}
        </Link>
      ))}
    </nav>
  );
}
