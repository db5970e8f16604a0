import { redirect } from "next/navigation";
import { signInPath } from "@/lib/signInPath";
import { auth, providers, signOut } from "@/auth";
import { api } from "@/convex/_generated/api";
import { convex } from "@/lib/convex";
import { SignOutButton } from "../AuthButtons";
import { Nav } from "../Nav";
import { Account } from "./Account";

/** Deletes every session of the user in Convex, then this browser's cookie. */
async function signOutEverywhere() {
  "use server";
  await convex.fetchMutation(api.account.signOutEverywhere, {});
  await signOut({ redirectTo: "/" });
}

function hasPasskeyProvider(): boolean {
  return providers.some((provider) => (typeof provider === "function" ? provider() : provider).id === "passkey");
}

export default async function AccountPage() {
  const session = await auth();
  if (!session) redirect(signInPath("/account"));
  return (
    <main>
      <header>
        <h1>Account</h1>
        <span>
          {session.user?.email} <SignOutButton />
        </span>
      </header>
      <Nav />
      <Account canRegisterPasskeys={hasPasskeyProvider()} />
      <h2>Sessions</h2>
      <form action={signOutEverywhere}>
        <p className="muted">Ends every session of this account, in every browser, this one included.</p>
        <button type="submit">Sign out everywhere</button>
      </form>
    </main>
  );
}
