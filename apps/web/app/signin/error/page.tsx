import Link from "next/link";
import { signInErrorMessage } from "../messages";

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

/** Auth.js `pages.error`: a failed sign-in that cannot go back to the form (e.g. a used link). */
export default async function SignInErrorPage({ searchParams }: { searchParams: SearchParams }) {
  const { error } = await searchParams;
  return (
    <main>
      <h1>Could not sign you in</h1>
      <p className="error" role="alert">
        {signInErrorMessage(typeof error === "string" ? error : "Default")}
      </p>
      <p>
        <Link href="/signin">Back to sign in</Link>
      </p>
    </main>
  );
}
