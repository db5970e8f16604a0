/**
 * Holds the requests and upgrades that reach servers before the backend can serve them. The
 * servers listen first (their ports name the deployment's URLs, which the functions see), then the
 * deployment loads — which takes a moment now that it starts the function workers — and a request
 * that came meanwhile would find no listener and hang. Held ones are handed on once released.
 *
 * @example
 * const release = holdRequests([apiServer, siteServer]);
 * // ... load the deployment, attach the "request" and "upgrade" listeners ...
 * release();
 */
import type { Server } from "node:http";

const EVENTS = ["request", "upgrade"] as const;

/** Starts holding `servers`' requests and upgrades; the returned function hands them on, in order, and stops holding. */
export function holdRequests(servers: readonly Server[]): () => void {
  const held: { server: Server; event: (typeof EVENTS)[number]; args: unknown[] }[] = [];
  const stops: (() => void)[] = [];
  for (const server of servers) {
    for (const event of EVENTS) {
      const listener = (...args: unknown[]) => held.push({ server, event, args });
      server.on(event, listener);
      stops.push(() => server.off(event, listener));
    }
  }
  return () => {
    for (const stop of stops) stop();
    for (const { server, event, args } of held.splice(0)) server.emit(event, ...args);
  };
}
