"use client";

import { useMutation, useQuery } from "convex/react";
import { ConvexError } from "convex/values";
import { signIn } from "next-auth/webauthn";
import { useState } from "react";
import { api } from "@/convex/_generated/api";

function date(milliseconds: number): string {
  return new Date(milliseconds).toISOString().slice(0, 10);
}

/** The account's sign-in methods, live from Convex (account:overview). */
export function Account({ canRegisterPasskeys }: { canRegisterPasskeys: boolean }) {
  const overview = useQuery(api.account.overview);
  const removePasskey = useMutation(api.account.removePasskey);
  const [error, setError] = useState<string | null>(null);

  if (overview === undefined) return <p>Loading account…</p>;
  if (overview === null) return <p>You are signed out.</p>;

  async function remove(id: string) {
    setError(null);
    try {
      await removePasskey({ id });
    } catch (e) {
      setError(e instanceof ConvexError ? (e.data as { message: string }).message : "Could not remove the passkey.");
    }
  }

  return (
    <section>
      <dl>
        <dt>Email</dt>
        <dd data-testid="account-email">
          {overview.email} {overview.emailVerified ? "(verified)" : ""}
        </dd>
        {overview.name && (
          <>
            <dt>Name</dt>
            <dd>{overview.name}</dd>
          </>
        )}
        <dt>Open sessions</dt>
        <dd data-testid="active-sessions">{overview.activeSessions}</dd>
      </dl>

      <h2>Linked accounts</h2>
      {overview.linkedAccounts.length === 0 ? (
        <p>No linked accounts: you sign in by email or passkey.</p>
      ) : (
        <ul data-testid="linked-accounts">
          {overview.linkedAccounts.map((account) => (
            <li key={`${account.provider}:${account.linkedAt}`}>
              {account.provider} ({account.type}), linked {date(account.linkedAt)}
            </li>
          ))}
        </ul>
      )}

      <h2>Passkeys</h2>
      {overview.passkeys.length === 0 ? (
        <p>No passkeys yet.</p>
      ) : (
        <ul className="notes" data-testid="passkeys">
          {overview.passkeys.map((passkey) => (
            <li key={passkey.id}>
              <span>
                Passkey added {date(passkey.createdAt)} ({passkey.deviceType === "multiDevice" ? "synced" : "this device"}
                {passkey.backedUp ? ", backed up" : ""})
              </span>
              <button onClick={() => void remove(passkey.id)}>Remove</button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {canRegisterPasskeys ? (
        <button onClick={() => void signIn("passkey", { action: "register", redirectTo: "/account" })}>Add a passkey</button>
      ) : (
        <p className="muted">Passkeys are not enabled on this server.</p>
      )}
    </section>
  );
}
