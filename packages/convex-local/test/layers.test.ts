/**
 * The layer rule of `src/`: each folder is a layer, and a module imports only from its own layer or
 * the layers below it (the order of `layers`, lowest first; `text` quotes and escapes what people
 * are shown). A new folder must be given its place here before anything can import it.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const source = path.join(path.dirname(fileURLToPath(import.meta.url)), "../src");

/** Lowest first: a layer may import any layer at or before its own position. */
const layers = ["text", "storage", "transactions", "runtime", "auth", "scheduler", "api", "cli"];

function modulesOf(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|js)$/.test(entry.name) && !/\.test\.ts$/.test(entry.name) && !entry.parentPath.includes("test-utils"))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** The top-level folder of `src/` a path lies in ("" for `src/index.ts`). */
function layerOf(file: string): string {
  const relative = path.relative(source, file).split(path.sep);
  return relative.length > 1 ? relative[0] : "";
}

describe("the layer rule", () => {
  it("has every folder of src/ in the layer order", () => {
    const folders = readdirSync(source, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.filter((folder) => !layers.includes(folder))).toEqual([]);
  });

  it("imports only from its own layer or the layers below it", () => {
    const violations: string[] = [];
    for (const file of modulesOf(source)) {
      const from = layerOf(file);
      if (from === "") continue; // the package entry point re-exports from any layer
      for (const [, specifier] of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
        const to = layerOf(path.resolve(path.dirname(file), specifier));
        // The entry point ("") re-exports from the top: no layer may import it.
        if (to === "" || layers.indexOf(to) > layers.indexOf(from)) violations.push(`${path.relative(source, file)} imports ${specifier}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
