import Link from "next/link";
import { signOut } from "@/auth";
import { signInPath } from "@/lib/signInPath";

/** The way in: every sign-in method (email link, OIDC, GitHub, passkey) is on /signin. */
export function SignInButtons({ redirectTo = "/notes" }: { redirectTo?: string }) {
  return (
    <Link href={signInPath(redirectTo)}>
      Sign in
    </Link>
  );
}

export function SignOutButton() {
  return (
    <form
      className="inline"
      action={async () => {
        "use server";
        await signOut({ redirectTo: "/" });
      }}
    >
      <button type="submit">Sign out</button>
    </form>
  );
}
