/**
 * Maps stack frames of pushed code back to the user's sources, so an error reads like Convex's:
 * `at handler (../convex/messages.ts:10:5)` rather than a position in the bundle.
 */
import { SourceMap, type SourceMapping } from "node:module";
import type { CompiledModule } from "./modules.js";

const INLINE_MAP = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/;
const FRAME = /^\s+at (?:(.*?) \()?convex\/(.+?):(\d+):(\d+)\)?$/;
const maps = new WeakMap<CompiledModule, SourceMap | null>();

function sourceMapOf(module: CompiledModule): SourceMap | null {
  let map = maps.get(module);
  if (map === undefined) {
    const encoded = INLINE_MAP.exec(module.code)?.[1];
    map = encoded === undefined ? null : new SourceMap(JSON.parse(Buffer.from(encoded, "base64").toString("utf8")));
    maps.set(module, map);
  }
  return map;
}

/** The frames of `stack` that lie in the app's own modules (not shared `_deps` chunks), source-mapped. */
export function userFrames(stack: string, modules: ReadonlyMap<string, CompiledModule>): string[] {
  const frames: string[] = [];
  for (const line of stack.split("\n")) {
    const match = FRAME.exec(line);
    if (match === null) continue;
    const [, name, modulePath, lineText, columnText] = match;
    if (modulePath.startsWith("_deps/")) continue;
    const module = modules.get(modulePath);
    const entry = module === undefined ? undefined : (sourceMapOf(module)?.findEntry(Number(lineText) - 1, Number(columnText) - 1) as SourceMapping | Record<string, never> | undefined);
    const location =
      entry !== undefined && "originalSource" in entry
        ? `${entry.originalSource}:${entry.originalLine + 1}:${entry.originalColumn + 1}`
        : `convex/${modulePath}:${lineText}:${columnText}`;
    frames.push(name ? `    at ${name} (${location})` : `    at ${location}`);
  }
  return frames;
}
