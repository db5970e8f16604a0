/**
 * The web platform globals Convex's runtime offers user code. Queries and mutations get no network
 * and no timers (they must be deterministic); actions get `fetch`, and timers from their isolate.
 */
import { webcrypto } from "node:crypto";

function unavailableInQueries(name: string) {
  return () => {
    throw new Error(`Can't use ${name} in queries and mutations. Please consider using an action.`);
  };
}

export function webGlobals({ actions }: { actions: boolean }): Record<string, unknown> {
  const shared: Record<string, unknown> = {
    TextEncoder,
    TextDecoder,
    URL,
    URLSearchParams,
    atob,
    btoa,
    crypto: webcrypto,
    Headers,
    Request,
    Response,
    Blob,
    File,
    FormData,
    ReadableStream,
    WritableStream,
    TransformStream,
    AbortController,
    AbortSignal,
    Event,
    EventTarget,
    structuredClone,
  };
  if (!actions) {
    return {
      ...shared,
      fetch: unavailableInQueries("fetch()"),
      setTimeout: unavailableInQueries("setTimeout"),
      setInterval: unavailableInQueries("setInterval"),
    };
  }
  // Actions' timers are their isolate's own (ActionTimers): a callback that throws fails the action.
  return { ...shared, fetch };
}
