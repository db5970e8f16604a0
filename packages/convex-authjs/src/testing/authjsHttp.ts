/**
 * Auth.js (`@auth/core`'s `Auth`) answering requests in process, with a cookie jar, for tests that go
 * through its HTTP endpoints as a browser does: csrf, sign-in, the callback link, the session.
 */
import { Auth, type AuthConfig } from "@auth/core";

export const AUTH_ORIGIN = "http://localhost:3000";
export const AUTH_BASE_PATH = "/api/auth";

export interface AuthjsClient {
  /** Sends a request to Auth.js with the jar's cookies; stores the cookies it sets. */
  request(pathOrUrl: string, init?: RequestInit & { form?: Record<string, string> }): Promise<Response>;
  /** POSTs the sign-in form of an email provider, as Auth.js's sign-in page does. */
  requestMagicLink(providerId: string, email: string, headers?: Record<string, string>): Promise<Response>;
  cookies: Map<string, string>;
}

export function authjsClient(config: Omit<AuthConfig, "basePath" | "secret" | "trustHost">): AuthjsClient {
  const cookies = new Map<string, string>();
  const full: AuthConfig = { ...config, basePath: AUTH_BASE_PATH, secret: "test-auth-secret-0123456789abcdef0123456789", trustHost: true };

  async function request(pathOrUrl: string, init: RequestInit & { form?: Record<string, string> } = {}): Promise<Response> {
    const url = new URL(pathOrUrl, AUTH_ORIGIN);
    const headers = new Headers(init.headers);
    if (cookies.size > 0) headers.set("cookie", [...cookies].map(([name, value]) => `${name}=${value}`).join("; "));
    let body = init.body;
    if (init.form) {
      headers.set("content-type", "application/x-www-form-urlencoded");
      body = new URLSearchParams(init.form).toString();
    }
    const response = await Auth(new Request(url, { ...init, headers, body, redirect: "manual" }), full);
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value === "" || /max-age=0/i.test(line)) cookies.delete(name);
      else cookies.set(name, value);
    }
    return response;
  }

  return {
    cookies,
    request,
    async requestMagicLink(providerId, email, headers = {}) {
      const { csrfToken } = (await (await request(`${AUTH_BASE_PATH}/csrf`)).json()) as { csrfToken: string };
      return await request(`${AUTH_BASE_PATH}/signin/${providerId}`, {
        method: "POST",
        headers,
        form: { email, csrfToken, callbackUrl: AUTH_ORIGIN },
      });
    },
  };
}
