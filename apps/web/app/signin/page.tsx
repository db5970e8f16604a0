import Link from "next/link";
import { redirect } from "next/navigation";
import { providers, signIn } from "@/auth";
import { PasskeySignInButton } from "./PasskeySignInButton";
import { devMailboxEnabled, safeCallbackPath, signInErrorMessage } from "./messages";

// Enough for any real address (RFC 5321 caps a path at 256); one @, no spaces.
const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,63}$/;

function providerList() {
  return providers.map((provider) => {
    const { id, name, type } = typeof provider === "function" ? provider() : provider;
    return { id, name, type };
  });
}

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

/** Every configured way to sign in, on one page (Auth.js `pages.signIn`). */
export default async function SignInPage({ searchParams }: { searchParams: SearchParams }) {
  const params = await searchParams;
  const redirectTo = safeCallbackPath(params.callbackUrl);
  const error = signInErrorMessage(typeof params.error === "string" ? params.error : undefined, typeof params.minutes === "string" ? params.minutes : undefined);
  const available = providerList();
  const hasEmail = available.some((p) => p.id === "nodemailer");
  const hasPasskey = available.some((p) => p.id === "passkey");
  const oauth = available.filter((p) => p.type === "oauth" || p.type === "oidc");

  async function emailSignIn(form: FormData) {
    "use server";
    const email = String(form.get("email") ?? "").trim().toLowerCase();
    if (!EMAIL_PATTERN.test(email)) {
      redirect(`/signin?${new URLSearchParams({ error: "InvalidEmail", callbackUrl: redirectTo })}`);
    }
    // Auth.js answers with its verify-request route once the link is sent (then go straight to the
    // page it would redirect to), else where a refusal goes (limitSignIns in auth.ts, or its error page).
    const next = new URL(await signIn("nodemailer", { email, redirectTo, redirect: false }), "http://app.invalid");
    const sent = next.pathname.endsWith("/verify-request") || next.pathname === "/signin/check-email";
    redirect(sent ? "/signin/check-email" : `${next.pathname}${next.search}`);
  }

  return (
    <main>
      <header>
        <h1>Sign in</h1>
        <Link href="/">Home</Link>
      </header>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {hasEmail && (
        <section>
          <h2>Email</h2>
          <form action={emailSignIn}>
            <label>
              Email address <input name="email" type="email" autoComplete="email webauthn" required maxLength={320} />
            </label>
            <button type="submit">Email me a sign-in link</button>
          </form>
          {devMailboxEnabled() && (
            <p className="muted">
              In development the email lands in the <Link href="/dev/mailbox">local mailbox</Link>.
            </p>
          )}
        </section>
      )}
      {oauth.length > 0 && (
        <section>
          <h2>Accounts</h2>
          {oauth.map(({ id, name }) => (
            <form
              key={id}
              className="inline"
              action={async () => {
                "use server";
                await signIn(id, { redirectTo });
              }}
            >
              <button type="submit">Sign in with {name}</button>
            </form>
          ))}
        </section>
      )}
      {hasPasskey && (
        <section>
          <h2>Passkey</h2>
          <PasskeySignInButton redirectTo={redirectTo} />
          <p className="muted">Add a passkey on your account page once you are signed in.</p>
        </section>
      )}
    </main>
  );
}
