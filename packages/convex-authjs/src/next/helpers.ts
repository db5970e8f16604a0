import type { Session } from "next-auth";
import {
  fetchAction,
  fetchMutation,
  fetchQuery,
  preloadQuery,
  type NextjsOptions,
} from "convex/nextjs";
import type { ArgsAndOptions, FunctionReference } from "convex/server";
import { convexTokenOf } from "../shared/session.js";

type Call = (reference: any, args?: any, options?: NextjsOptions) => Promise<any>;

/** Options for every call: where the deployment is (default `NEXT_PUBLIC_CONVEX_URL`). */
export type ConvexCallOptions = Omit<NextjsOptions, "token">;

/** `convex/nextjs`'s functions, called as one session's user. */
export interface AuthenticatedConvex {
  /** The session the calls are authenticated with; null when signed out. */
  readonly session: Session | null;
  /** Its Convex token; undefined when signed out (calls then run unauthenticated). */
  readonly token: string | undefined;
  fetchQuery: typeof fetchQuery;
  fetchMutation: typeof fetchMutation;
  fetchAction: typeof fetchAction;
  preloadQuery: typeof preloadQuery;
}

/**
 * `fetchQuery`, `fetchMutation`, `fetchAction` and `preloadQuery` from
 * `convex/nextjs`, authenticated with the session's Convex token. Use it when
 * you already hold the session, e.g. in `getServerSideProps`.
 */
export function convexForSession(session: Session | null, options: ConvexCallOptions = {}): AuthenticatedConvex {
  const token = convexTokenOf(session) ?? undefined;
  const withToken =
    (call: Call) =>
    (reference: FunctionReference<any>, ...[args, callOptions]: ArgsAndOptions<any, NextjsOptions>) =>
      call(reference, args ?? {}, { ...options, token, ...callOptions });
  return {
    session,
    token,
    fetchQuery: withToken(fetchQuery) as typeof fetchQuery,
    fetchMutation: withToken(fetchMutation) as typeof fetchMutation,
    fetchAction: withToken(fetchAction) as typeof fetchAction,
    preloadQuery: withToken(preloadQuery) as typeof preloadQuery,
  };
}

/** Auth.js's `auth` from `NextAuth(...)`, or any function resolving a session. */
export type AuthFunction<Args extends unknown[] = any[]> = (...args: Args) => Promise<Session | null>;

/**
 * Server helpers bound to your Auth.js `auth`:
 *
 * - App Router (server components, server actions, route handlers):
 *   `convexToken()`, and `fetchQuery`/`fetchMutation`/`fetchAction`/
 *   `preloadQuery`, each reading the current session with `auth()`.
 * - Pages Router and anything else with a request: `forRequest(ctx)` (or
 *   `forRequest(req, res)`) calls `auth(ctx)` once and returns the same
 *   functions bound to that session.
 *
 * @example
 * ```ts
 * // lib/convex.ts
 * import { auth } from "@/auth";
 * import { convexAuthHelpers } from "convex-authjs/next";
 * export const convex = convexAuthHelpers(auth);
 *
 * // app/page.tsx
 * const tasks = await convex.fetchQuery(api.tasks.list, {});
 *
 * // pages/tasks.tsx
 * export const getServerSideProps = (async (ctx) => {
 *   const { session, fetchQuery } = await convex.forRequest(ctx);
 *   return { props: { session, tasks: await fetchQuery(api.tasks.list, {}) } };
 * }) satisfies GetServerSideProps;
 * ```
 */
export function convexAuthHelpers<Auth extends AuthFunction>(auth: Auth, options: ConvexCallOptions = {}) {
  const current = async () => convexForSession(await (auth as AuthFunction<[]>)(), options);
  const viaCurrent =
    <Name extends "fetchQuery" | "fetchMutation" | "fetchAction" | "preloadQuery">(name: Name) =>
    async (...args: unknown[]) =>
      ((await current())[name] as (...args: unknown[]) => unknown)(...args);
  return {
    /** The current session's Convex token, or undefined when signed out. */
    convexToken: async (): Promise<string | undefined> =>
      convexTokenOf(await (auth as AuthFunction<[]>)()) ?? undefined,
    fetchQuery: viaCurrent("fetchQuery") as typeof fetchQuery,
    fetchMutation: viaCurrent("fetchMutation") as typeof fetchMutation,
    fetchAction: viaCurrent("fetchAction") as typeof fetchAction,
    preloadQuery: viaCurrent("preloadQuery") as typeof preloadQuery,
    /** The helpers for one request's session: `auth(...args)` is called once. */
    forRequest: async (...args: Parameters<Auth>): Promise<AuthenticatedConvex> =>
      convexForSession(await auth(...args), options),
  };
}
