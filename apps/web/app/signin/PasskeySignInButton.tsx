"use client";

import { signIn } from "next-auth/webauthn";
import { useState } from "react";
import { signInErrorMessage } from "./messages";

/** Signs in with a passkey already registered on this site (a discoverable credential). */
export function PasskeySignInButton({ redirectTo }: { redirectTo: string }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function signInWithPasskey() {
    setError(null);
    setBusy(true);
    try {
      const result = await signIn("passkey", { redirect: false, redirectTo });
      if (result?.ok && !result.error && result.url) {
        window.location.assign(result.url);
        return;
      }
      setError(signInErrorMessage(result?.error ?? "WebAuthnVerificationError") ?? null);
    } catch (e) {
      // The browser throws NotAllowedError when the user cancels or no passkey matches.
      setError(e instanceof Error && e.name === "NotAllowedError" ? "No passkey was used." : "Passkey sign-in failed. Try again.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <button type="button" disabled={busy} onClick={() => void signInWithPasskey()}>
        Sign in with a passkey
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}
