/**
 * The stack frames of an error thrown by pushed code, as Convex shows them (crates/common/src/errors.rs,
 * `JsError::from_frames` and `Display for FrameData`):
 * - a frame in the app's modules is source-mapped to the user's file, `../convex/messages.ts:10:5`;
 *   one in a module pushed without a source map is left out, as Convex leaves it out;
 * - frames outside the pushed modules (convex-local's own code, Node's) are left out, and so are the
 *   leading and trailing frames in the `convex` package's server implementation;
 * - the run's own frames only: its code's frames down to the host's, then its async callers. A query
 *   or mutation called with `ctx.runQuery` / `ctx.runMutation` runs on its caller's stack, whose
 *   frames below the host's are the caller's (Convex runs the callee apart);
 * - a function without a name reads `<anonymous> (…)`, and a method call `name [as name] (…)`:
 *   Convex formats V8's frame data so (it never learns a frame is top-level, and prints `[as m]`
 *   when the name ends with the method name, V8 when it does not).
 *
 * Only the text of V8's stack is at hand here, so a method call's name is read from it: `Type.fn`
 * becomes `fn [as fn]` (the method name is the property the function was called as, nearly always
 * its own name), and `Object.<anonymous>`, a module's top level run as a CommonJS body, `<anonymous>`.
 *
 * @example
 * userFrames(error.stack, modules) // ["    at handler (../convex/messages.ts:10:5)"]
 */
import { SourceMap, type SourceMapping } from "node:module";
import type { CompiledModule } from "./modules.js";

const INLINE_MAP = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/;
/** `    at [async ]<description> (<location>)` or `    at [async ]<location>`. */
const FRAME = /^\s+at (async )?(.*)$/;
const DESCRIBED = /^(.*) \((.*)\)$/;
const MODULE_LOCATION = /^convex\/(.+):(\d+):(\d+)$/;
/** Where Convex starts and ends a trace: frames of the `convex` package's server code (errors.rs `is_omittable_internal_frame`). */
const CONVEX_SERVER_CODE = /convex\/src\/server\/impl|udf-runtime\/src/;
const maps = new WeakMap<CompiledModule, SourceMap | null>();

interface Frame {
  text: string;
  /** In the `convex` package's server code: left out at either end of the trace. */
  internal: boolean;
  /** A built-in's frame (no file): kept between the app's frames, left out after the last one. */
  builtIn: boolean;
  /** An async caller's frame (`at async …`). */
  awaiting: boolean;
}

function sourceMapOf(module: CompiledModule): SourceMap | null {
  let map = maps.get(module);
  if (map === undefined) {
    const encoded = module.sourceMap === undefined ? undefined : INLINE_MAP.exec(module.code)?.[1];
    map = encoded === undefined ? null : new SourceMap(JSON.parse(Buffer.from(encoded, "base64").toString("utf8")));
    maps.set(module, map);
  }
  return map;
}

/** The frames of `stack` Convex would show, in its format. */
export function userFrames(stack: string, modules: ReadonlyMap<string, CompiledModule>): string[] {
  // The frames are the lines after the message, which may itself hold lines like frames (a nested call's error).
  const lines = stack.split("\n");
  let first = lines.length;
  while (first > 0 && FRAME.test(lines[first - 1]!)) first--;
  const frames: Frame[] = [];
  let pastHost = false;
  for (const line of lines.slice(first)) {
    const frame = convexFrame(line, modules);
    // Host frames before the app's (an error made by a syscall) are only left out.
    if (frame === undefined) pastHost ||= frames.length > 0;
    else if (!pastHost || frame.awaiting) frames.push(frame);
    // Past the host's frames, a synchronous frame of the app is another function's: a nested call's caller.
    else if (!frame.builtIn) break;
  }
  let start = 0;
  while (start < frames.length && frames[start]!.internal) start++;
  let end = frames.length;
  while (end > start && (frames[end - 1]!.internal || frames[end - 1]!.builtIn)) end--;
  return frames.slice(start, end).map((frame) => frame.text);
}

/** One line of V8's stack as Convex shows it, or undefined when Convex would not show it. */
function convexFrame(line: string, modules: ReadonlyMap<string, CompiledModule>): Frame | undefined {
  const match = FRAME.exec(line);
  if (match === null) return undefined;
  const [, asyncPrefix = "", rest] = match;
  const described = DESCRIBED.exec(rest!);
  const [description, location] = described === null ? [undefined, rest!] : [described[1]!, described[2]!];
  const awaiting = asyncPrefix !== "";
  if (description === "Promise.all" && /^index \d+$/.test(location)) return { text: line, internal: false, builtIn: true, awaiting };
  if (location === "<anonymous>" || location === "native") {
    return { text: `    at ${asyncPrefix}${convexName(description)} (${location})`, internal: false, builtIn: true, awaiting };
  }
  const inModule = MODULE_LOCATION.exec(location);
  const module = inModule === null ? undefined : modules.get(inModule[1]!);
  if (module === undefined) return undefined;
  const map = sourceMapOf(module);
  if (map === null) return undefined;
  const [, modulePath, lineText, columnText] = inModule!;
  const entry = map.findEntry(Number(lineText) - 1, Number(columnText) - 1) as SourceMapping | Record<string, never>;
  const source =
    "originalSource" in entry
      ? `${entry.originalSource}:${entry.originalLine + 1}:${entry.originalColumn + 1}`
      : `convex:/${modulePath}:${lineText}:${columnText}`;
  return { text: `    at ${asyncPrefix}${convexName(description)} (${source})`, internal: CONVEX_SERVER_CODE.test(source), builtIn: false, awaiting };
}

/** How Convex names the function of a frame V8 described as `description` (see the module comment). */
function convexName(description: string | undefined): string {
  if (description === undefined || description === "Object.<anonymous>") return "<anonymous>";
  if (description.startsWith("new ")) return description;
  const renamed = / \[as [^\]]*\]$/.exec(description);
  // V8 adds `[as m]` when the name does not end with m, where Convex leaves it out.
  const qualified = renamed === null ? description : description.slice(0, renamed.index);
  const dot = qualified.indexOf(".");
  if (dot <= 0) return qualified;
  const name = qualified.slice(dot + 1);
  if (name === "<anonymous>" || renamed !== null) return renamed !== null ? name : qualified;
  return `${name} [as ${name}]`;
}
