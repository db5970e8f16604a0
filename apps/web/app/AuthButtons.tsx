import { providers, signIn, signOut } from "@/auth";

/** Server-rendered sign-in forms, one per configured provider. */
export function SignInButtons({ redirectTo = "/notes" }: { redirectTo?: string }) {
  const available = providers.map((provider) => {
    const config = typeof provider === "function" ? provider() : provider;
    return { id: config.id, name: config.name };
  });
  if (available.length === 0) {
    return (
      <p>
        No sign-in provider is configured. Set <code>AUTH_OIDC_ISSUER</code> (with <code>AUTH_OIDC_ID</code> and{" "}
        <code>AUTH_OIDC_SECRET</code>) or <code>AUTH_GITHUB_ID</code> and <code>AUTH_GITHUB_SECRET</code> in{" "}
        <code>apps/web/.env.local</code>.
      </p>
    );
  }
  return (
    <>
      {available.map(({ id, name }) => (
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
    </>
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
