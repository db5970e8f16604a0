/**
 * The pushed functions of a deployment, as the official CLI bundles them: ESM modules (one per file
 * under `convex/`, plus shared `_deps/*.js` chunks) that import each other by relative path.
 *
 * `node:vm` can only evaluate ESM behind `--experimental-vm-modules`, so each module is converted once
 * to a CommonJS function body with esbuild and evaluated inside an isolate with our own `require`.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { transformSync } from "esbuild";
import { truncateText } from "../text/valueText.js";
import { localName, namespaceOfName, qualifiedPath } from "./components.js";
import { InvalidFunctionPathError } from "./errors.js";

export type ModuleEnvironment = "isolate" | "node";

export interface ModuleSource {
  /** Path relative to the functions directory, e.g. `messages.js` or `_deps/ABC.js`. */
  path: string;
  source: string;
  sourceMap?: string;
  environment: ModuleEnvironment;
}

export interface CompiledModule extends ModuleSource {
  /** CommonJS body, run as `function (exports, require, module) { ... }` (isolate.ts). */
  code: string;
  /** The hash the CLI compares against to skip re-uploading an unchanged module. */
  sha256: string;
}

export class ModuleCompileError extends Error {
  constructor(modulePath: string, detail: string) {
    super(`Failed to load module "${modulePath}": ${detail}`);
    this.name = "ModuleCompileError";
  }
}

/** sha256 over source and source map, as `get_config_hashes` reports it. */
export function moduleHash(source: string, sourceMap: string | undefined): string {
  const hash = createHash("sha256");
  hash.update(source);
  if (sourceMap !== undefined) hash.update(sourceMap);
  return hash.digest("hex");
}

export function compileModule(module: ModuleSource): CompiledModule {
  let code: string;
  try {
    code = transformSync(withInlineSourceMap(module), {
      format: "cjs",
      loader: "js",
      sourcemap: "inline",
      sourcefile: module.path,
      target: "es2022",
      logLevel: "silent",
    }).code;
  } catch (error) {
    throw new ModuleCompileError(module.path, (error as Error).message);
  }
  return { ...module, code, sha256: moduleHash(module.source, module.sourceMap) };
}

/** esbuild chains an inline input source map, so stack traces map back to the user's TypeScript. */
function withInlineSourceMap(module: ModuleSource): string {
  const source = module.source.replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n");
  if (module.sourceMap === undefined) return source;
  const encoded = Buffer.from(module.sourceMap).toString("base64");
  return `${source}\n//# sourceMappingURL=data:application/json;base64,${encoded}\n`;
}

/**
 * Resolves an import specifier written inside `fromPath` to a module path of the same bundle: a
 * component's modules (installed under its namespace, components.ts) import only each other.
 */
export function resolveModulePath(fromPath: string, specifier: string): string | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const namespace = namespaceOfName(fromPath);
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(localName(fromPath)), specifier));
  return resolved.startsWith("../") || namespaceOfName(resolved) !== "" ? undefined : qualifiedPath(namespace, resolved);
}

/** Convex's longest path component and function name (sync_types' MAX_IDENTIFIER_LEN). */
const MAX_IDENTIFIER_LENGTH = 64;

/**
 * Throws {@link InvalidFunctionPathError} unless `udfPath` is a path Convex accepts (sync_types'
 * UdfPath: relative module path components of at most 64 characters from `[A-Za-z0-9_.]`, counted
 * with the `.js` the module path implies, and an identifier after the last `:`).
 */
export function checkFunctionPath(udfPath: string): void {
  if (acceptedPaths.has(udfPath)) return;
  const reason = functionPathProblem(udfPath);
  if (reason !== undefined) throw new InvalidFunctionPathError(udfPath, reason);
  if (acceptedPaths.size >= ACCEPTED_PATHS_LIMIT) acceptedPaths.clear();
  acceptedPaths.add(udfPath);
}

/** Paths checked lately and found valid: an app calls the same few functions over and over. */
const acceptedPaths = new Set<string>();
const ACCEPTED_PATHS_LIMIT = 1024;

function functionPathProblem(udfPath: string): string | undefined {
  const colon = udfPath.lastIndexOf(":");
  const modulePath = colon === -1 ? udfPath : udfPath.slice(0, colon);
  if (modulePath.startsWith("/")) return `Module paths must be relative (${truncateText(modulePath, 200)} is absolute).`;
  const components = modulePath.split("/").filter((component) => component !== "");
  if (components.length === 0) return "Module paths must be nonempty.";
  const last = components[components.length - 1];
  if (last.lastIndexOf(".") <= 0) components[components.length - 1] = `${last}.js`;
  for (const component of components) {
    const problem = pathComponentProblem(component);
    if (problem !== undefined) return problem;
  }
  return colon === -1 ? undefined : identifierProblem(udfPath.slice(colon + 1));
}

function pathComponentProblem(component: string): string | undefined {
  if (component === "." || component === "..") return `Invalid path component ${component}.`;
  if (component.length > MAX_IDENTIFIER_LENGTH) {
    return `Path component is too long (${component.length} > maximum ${MAX_IDENTIFIER_LENGTH}): ${component.slice(0, MAX_IDENTIFIER_LENGTH)}...`;
  }
  if (!/^[A-Za-z0-9_.]+$/.test(component)) return `Path component ${component} can only contain alphanumeric characters, underscores, or periods.`;
  if (!/[A-Za-z0-9]/.test(component)) return `Path component ${component} must have at least one alphanumeric character.`;
  return undefined;
}

/** Checks in Convex's order (sync_types' check_valid_identifier), quoting at most 200 characters of the name. */
function identifierProblem(name: string): string | undefined {
  const quoted = truncateText(name, 200);
  if (name === "") return "Identifier cannot be empty";
  if (!/^[A-Za-z_]/.test(name)) {
    return `Invalid first character ${JSON.stringify(String.fromCodePoint(name.codePointAt(0)!))} in ${quoted}: Identifiers must start with an alphabetic character or underscore`;
  }
  const invalid = /[^A-Za-z0-9_]/u.exec(name);
  if (invalid !== null) return `Identifier ${quoted} has invalid character ${JSON.stringify(invalid[0])}: Identifiers can only contain alphanumeric characters or underscores`;
  if (name.length > MAX_IDENTIFIER_LENGTH) return `Identifier is too long (${name.length} > maximum ${MAX_IDENTIFIER_LENGTH})`;
  if (/^_+$/.test(name)) return `Identifier ${name} cannot have exclusively underscores`;
  return undefined;
}

/** `messages:list` → module `messages.js`, export `list`; `dir/file` → `dir/file.js`, `default`. */
export function parseFunctionPath(udfPath: string): { modulePath: string; exportName: string } {
  const colon = udfPath.lastIndexOf(":");
  const modulePart = colon === -1 ? udfPath : udfPath.slice(0, colon);
  const exportName = colon === -1 ? "default" : udfPath.slice(colon + 1);
  const stripped = modulePart.replace(/\.(js|ts|jsx|tsx|mjs|cjs)$/, "");
  return { modulePath: `${stripped}.js`, exportName };
}

/** The canonical `module:export` form Convex reports (no `.js`, `default` spelled out). */
export function canonicalFunctionPath(udfPath: string): string {
  const { modulePath, exportName } = parseFunctionPath(udfPath);
  return `${modulePath.slice(0, -3)}:${exportName}`;
}
