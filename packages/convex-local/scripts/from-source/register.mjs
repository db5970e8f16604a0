/**
 * Runs convex-local's TypeScript sources in a worker thread or child process started from them
 * (tests run `src/` directly): `--import` this file and `.ts` modules load through esbuild.
 * The published package runs its compiled `dist/` and never uses this.
 */
import { register } from "node:module";

register(new URL("./hooks.mjs", import.meta.url));
