#!/usr/bin/env node
/**
 * Removes build outputs whose source is gone (dist/x.js, .d.ts and maps without src/x.ts, .tsx or
 * .js), so that `npm pack` never ships a stale module whose source map points at nothing. tsc never
 * deletes outputs, so renaming or deleting a source leaves them behind. Run as a package's
 * `prepack` (in its directory): `node ../../scripts/prune-stale-dist.mjs`.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";

const packageDir = process.cwd();
const dist = path.join(packageDir, "dist");
const src = path.join(packageDir, "src");
const OUTPUT = /(\.d\.ts\.map|\.d\.ts|\.js\.map|\.js)$/;

let removed = 0;
for (const file of existsSync(dist) ? readdirSync(dist, { recursive: true }) : []) {
  const relative = String(file);
  if (!OUTPUT.test(relative)) continue;
  const stem = relative.replace(OUTPUT, "");
  if ([".ts", ".tsx", ".js", ".mts"].some((ext) => existsSync(path.join(src, stem + ext)))) continue;
  rmSync(path.join(dist, relative));
  removed += 1;
}
if (removed > 0) console.error(`prune-stale-dist: removed ${removed} build outputs of deleted sources from ${path.relative(process.cwd(), dist) || dist}`);
