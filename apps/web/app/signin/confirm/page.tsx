import Link from "next/link";

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

function single(value: string | string[] | undefined): string {
  return typeof value === "string" ? value : "";
}

/**
 * Where the emailed sign-in link lands. Opening it uses nothing: the one-time token is spent only
 * when the button POSTs it to Auth.js's callback, so mail scanners that fetch links cannot burn it.
 */
export default async function ConfirmSignInPage({ searchParams }: { searchParams: SearchParams }) {
  const params = await searchParams;
  const token = single(params.token);
  const email = single(params.email);
  if (!token || !email) {
    return (
      <main>
        <h1>Sign in</h1>
        <p className="error" role="alert">
          This sign-in link is incomplete. Copy the whole link from the email, or <Link href="/signin">ask for a new one</Link>.
        </p>
      </main>
    );
  }
  const callback = new URLSearchParams({ token, email });
  const callbackUrl = single(params.callbackUrl);
  if (callbackUrl) callback.set("callbackUrl", callbackUrl);
  return (
    <main>
      <h1>Sign in</h1>
      <p>
        Sign in as <b data-testid="confirm-email">{email}</b>?
      </p>
      <form method="post" action={`/api/auth/callback/nodemailer?${callback}`}>
        <button type="submit">Sign in</button>
      </form>
      <p className="muted">The link works once. If you did not ask to sign in, close this page.</p>
    </main>
  );
}
