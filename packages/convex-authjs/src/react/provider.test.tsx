// @vitest-environment happy-dom
import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { ConvexReactClient, useConvexAuth } from "convex/react";
import type { Session } from "next-auth";
import { signOut } from "next-auth/react";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { ConvexAuthJsProvider, useConvexAuthFromSession } from "./index.js";

/** A JWT-shaped token for `sub` and session `sid` (the provider only reads those; Convex would verify it). */
function fakeToken(sub: string, n: number, sid?: string) {
  const encode = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, "");
  return `${encode({ alg: "RS256" })}.${encode({ sub, sid, n })}.signature`;
}

const sessionFor = (sub: string, n: number, sid?: string): Session => ({
  user: { name: sub },
  expires: "2030-01-01T00:00:00.000Z",
  convexToken: fakeToken(sub, n, sid),
});

/**
 * The Auth.js endpoints next-auth/react calls. `/api/auth/session` answers
 * `current`; while `hold()` is in effect its answers wait for the release.
 */
function authServer(initial: Session | null = null) {
  const server = {
    current: initial,
    requests: [] as string[],
    held: null as Promise<void> | null,
    sessionRequests: () => server.requests.filter((r) => r.endsWith("/api/auth/session")).length,
    hold() {
      let release!: () => void;
      server.held = new Promise<void>((resolve) => (release = resolve));
      return () => {
        server.held = null;
        release();
      };
    },
  };
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const path = new URL(String(input), "http://localhost").pathname;
      server.requests.push(`${(init?.method ?? "GET").toUpperCase()} ${path}`);
      if (path === "/api/auth/session") {
        if (server.held) await server.held;
        return Response.json(server.current ?? {});
      }
      if (path === "/api/auth/csrf") return Response.json({ csrfToken: "csrf" });
      if (path === "/api/auth/signout") return Response.json({ url: "http://localhost/" });
      throw new Error(`unexpected request ${path}`);
    }),
  );
  return server;
}

/** A socket that never connects: these tests watch what the provider tells the client. */
class OfflineWebSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  readyState = 0;
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  send() {}
  close() {}
}

function convexClient() {
  const client = new ConvexReactClient("https://happy-otter-123.convex.cloud", {
    webSocketConstructor: OfflineWebSocket as unknown as typeof WebSocket,
    unsavedChangesWarning: false,
  });
  const setAuth = vi.spyOn(client, "setAuth");
  const clearAuth = vi.spyOn(client, "clearAuth");
  type Fetcher = (args: { forceRefreshToken: boolean }) => Promise<string | null | undefined>;
  return { client, setAuth, clearAuth, fetcher: () => setAuth.mock.calls.at(-1)![0] as Fetcher };
}

let latestAuth: ReturnType<typeof useConvexAuthFromSession>;
function Probe() {
  latestAuth = useConvexAuthFromSession();
  const convexAuth = useConvexAuth();
  return (
    <p data-testid="state">
      {`session:${latestAuth.isLoading ? "loading" : latestAuth.isAuthenticated ? "in" : "out"} convex:${
        convexAuth.isLoading ? "loading" : convexAuth.isAuthenticated ? "in" : "out"
      }`}
    </p>
  );
}
const state = () => screen.getByTestId("state").textContent;

let client: ReturnType<typeof convexClient>;
beforeEach(() => {
  client = convexClient();
});
afterEach(async () => {
  cleanup();
  // Not awaited: closing waits for a socket that never opened.
  void client.client.close();
  vi.unstubAllGlobals();
});

describe("ConvexAuthJsProvider", () => {
  test("is loading until the session loads, then authenticates Convex with its token", async () => {
    const server = authServer(sessionFor("alice", 1));
    const release = server.hold();
    render(
      <ConvexAuthJsProvider client={client.client}>
        <Probe />
      </ConvexAuthJsProvider>,
    );
    expect(state()).toBe("session:loading convex:loading");
    expect(client.setAuth).not.toHaveBeenCalled();

    await act(async () => release());
    await waitFor(() => expect(client.setAuth).toHaveBeenCalledTimes(1));
    expect(latestAuth).toMatchObject({ isLoading: false, isAuthenticated: true });
    expect(await client.fetcher()({ forceRefreshToken: false })).toBe(fakeToken("alice", 1));
  });

  test("a sign-out on the server (the layout's session becomes null) clears Convex auth at once", async () => {
    authServer(null);
    const tree = (session: Session | null) => (
      <ConvexAuthJsProvider client={client.client} session={session}>
        <Probe />
      </ConvexAuthJsProvider>
    );
    const { rerender } = render(tree(sessionFor("alice", 1)));
    expect(state()).toBe("session:in convex:loading");
    rerender(tree(null));
    await waitFor(() => expect(latestAuth).toMatchObject({ isLoading: false, isAuthenticated: false }));
    expect(client.clearAuth).toHaveBeenCalled();
  });

  test("with a server-provided session it authenticates at once, without a request", async () => {
    const server = authServer(sessionFor("alice", 1));
    render(
      <ConvexAuthJsProvider client={client.client} session={sessionFor("alice", 1)}>
        <Probe />
      </ConvexAuthJsProvider>,
    );
    expect(latestAuth).toMatchObject({ isLoading: false, isAuthenticated: true });
    expect(client.setAuth).toHaveBeenCalledTimes(1);
    expect(server.requests).toEqual([]);
  });

  test("concurrent forced refreshes share one session request and return the new token", async () => {
    const server = authServer();
    render(
      <ConvexAuthJsProvider client={client.client} session={sessionFor("alice", 1)}>
        <Probe />
      </ConvexAuthJsProvider>,
    );
    const fetchAccessToken = client.fetcher();
    server.current = sessionFor("alice", 2);
    const release = server.hold();

    let pending!: Promise<Array<string | null | undefined>>;
    await act(async () => {
      pending = Promise.all([1, 2, 3].map(() => fetchAccessToken({ forceRefreshToken: true })));
    });
    // While the request is in flight the user stays signed in: Convex is not reset.
    expect(server.sessionRequests()).toBe(1);
    expect(latestAuth).toMatchObject({ isLoading: false, isAuthenticated: true });
    expect(client.setAuth).toHaveBeenCalledTimes(1);

    let tokens!: Array<string | null | undefined>;
    await act(async () => {
      release();
      tokens = await pending;
    });
    expect(tokens).toEqual(Array(3).fill(fakeToken("alice", 2)));
    expect(server.sessionRequests()).toBe(1);

    // The refreshed session is now the provider's: no more requests, same user, no re-authentication.
    expect(await fetchAccessToken({ forceRefreshToken: false })).toBe(fakeToken("alice", 2));
    expect(client.setAuth).toHaveBeenCalledTimes(1);
    expect(client.clearAuth).not.toHaveBeenCalled();
    expect(latestAuth.isLoading).toBe(false);

    // A later forced refresh makes a new request.
    server.current = sessionFor("alice", 3);
    await act(async () => {
      expect(await fetchAccessToken({ forceRefreshToken: true })).toBe(fakeToken("alice", 3));
    });
    expect(server.sessionRequests()).toBe(2);
  });

  test("a forced refresh after the server session ended yields no token", async () => {
    const server = authServer();
    render(
      <ConvexAuthJsProvider client={client.client} session={sessionFor("alice", 1)}>
        <Probe />
      </ConvexAuthJsProvider>,
    );
    server.current = null;
    await act(async () => {
      expect(await client.fetcher()({ forceRefreshToken: true })).toBeNull();
    });
  });

  test("signing out clears Convex auth at once", async () => {
    const server = authServer();
    render(
      <ConvexAuthJsProvider client={client.client} session={sessionFor("alice", 1)}>
        <Probe />
      </ConvexAuthJsProvider>,
    );
    expect(client.clearAuth).not.toHaveBeenCalled();
    server.current = null;
    await act(async () => {
      await signOut({ redirect: false });
    });
    expect(server.requests).toContain("POST /api/auth/signout");
    expect(client.clearAuth).toHaveBeenCalledTimes(1);
    expect(state()).toBe("session:out convex:out");
    expect(await latestAuth.fetchAccessToken({ forceRefreshToken: false })).toBeNull();
  });

  test("a session without a Convex token leaves Convex unauthenticated", async () => {
    authServer();
    const { convexToken: _none, ...withoutToken } = sessionFor("alice", 1);
    render(
      <ConvexAuthJsProvider client={client.client} session={withoutToken}>
        <Probe />
      </ConvexAuthJsProvider>,
    );
    expect(state()).toBe("session:out convex:out");
    expect(client.setAuth).not.toHaveBeenCalled();
  });

  test("a different user re-authenticates Convex with the new user's token", async () => {
    const server = authServer();
    render(
      <ConvexAuthJsProvider client={client.client} session={sessionFor("alice", 1)}>
        <Probe />
      </ConvexAuthJsProvider>,
    );
    server.current = sessionFor("bob", 1);
    await act(async () => {
      await client.fetcher()({ forceRefreshToken: true });
    });
    await waitFor(() => expect(client.setAuth).toHaveBeenCalledTimes(2));
    expect(await client.fetcher()({ forceRefreshToken: false })).toBe(fakeToken("bob", 1));
  });

  test("a new session of the same user re-authenticates Convex; a renewed token of the same session does not", async () => {
    const server = authServer();
    render(
      <ConvexAuthJsProvider client={client.client} session={sessionFor("alice", 1, "session-a")}>
        <Probe />
      </ConvexAuthJsProvider>,
    );
    server.current = sessionFor("alice", 2, "session-a");
    await act(async () => {
      await client.fetcher()({ forceRefreshToken: true });
    });
    expect(client.setAuth).toHaveBeenCalledTimes(1);

    // Signed out everywhere, then in again: the old session's token no longer counts in Convex.
    server.current = sessionFor("alice", 1, "session-b");
    await act(async () => {
      await client.fetcher()({ forceRefreshToken: true });
    });
    await waitFor(() => expect(client.setAuth).toHaveBeenCalledTimes(2));
    expect(await client.fetcher()({ forceRefreshToken: false })).toBe(fakeToken("alice", 1, "session-b"));
  });

  test("the layout handing it a new session of the same user (a sign-in on the server) replaces the old session's token", async () => {
    // The server knows the new sign-in too (a remounted SessionProvider asks it once).
    authServer(sessionFor("alice", 1, "session-b"));
    const tree = (session: Session) => (
      <ConvexAuthJsProvider client={client.client} session={session}>
        <Probe />
      </ConvexAuthJsProvider>
    );
    const { rerender } = render(tree(sessionFor("alice", 1, "session-a")));
    rerender(tree(sessionFor("alice", 1, "session-b")));
    await waitFor(() => expect(client.setAuth).toHaveBeenCalledTimes(2));
    expect(await client.fetcher()({ forceRefreshToken: false })).toBe(fakeToken("alice", 1, "session-b"));
  });
});
