"use client";

import { useEffect, useState } from "react";

/** The clicks counter, read and incremented through the /api/clicks route handler. */
export function ClicksCounter() {
  const [clicks, setClicks] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function call(method: "GET" | "POST") {
    setError(null);
    const response = await fetch("/api/clicks", { method });
    const body = (await response.json().catch(() => ({}))) as { clicks?: number; error?: string };
    if (response.ok && typeof body.clicks === "number") setClicks(body.clicks);
    else setError(body.error ?? `The counter is unavailable (HTTP ${response.status}).`);
  }

  useEffect(() => {
    void call("GET");
  }, []);

  return (
    <p>
      <button onClick={() => void call("POST")}>Click</button>{" "}
      <span data-testid="clicks">{clicks === null ? "…" : `${clicks} ${clicks === 1 ? "click" : "clicks"}`}</span>{" "}
      <span className="muted">(via the /api/clicks route handler)</span>
      {error && (
        <span className="error" role="alert">
          {" "}
          {error}
        </span>
      )}
    </p>
  );
}
