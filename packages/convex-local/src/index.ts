/**
 * convex-local as a library: start an embedded Convex-compatible backend in this process.
 *
 * @example
 * import { startBackend } from "convex-local";
 * const backend = await startBackend({ dataDir: ".convex-local", port: 0, sitePort: 0 });
 * // backend.url, backend.siteUrl, backend.adminKey; push with `npx convex deploy`.
 * await backend.close();
 */
export { startBackend, loadOrCreateAdminKey, SERVER_VERSION, type Backend, type BackendOptions } from "./api/backend.js";
