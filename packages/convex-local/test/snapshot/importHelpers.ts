/**
 * What the import tests share: writing a ZIP as a test needs it, and the CLI's output for an import
 * that must fail.
 */
import { createWriteStream } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import yazl from "yazl";

/** Writes a ZIP of `entries` (name → content, in order) to `dir/name`; resolves with its path. */
export async function writeZip(dir: string, name: string, entries: Record<string, string | Buffer> | [string, string | Buffer][]): Promise<string> {
  const zip = new yazl.ZipFile();
  for (const [entry, content] of Array.isArray(entries) ? entries : Object.entries(entries)) zip.addBuffer(Buffer.from(content), entry);
  zip.end();
  const at = path.join(dir, name);
  await pipeline(zip.outputStream, createWriteStream(at));
  return at;
}

/** The CLI's failure output for an import (`npx convex import <args> --yes`) that must fail. */
export async function failedImport(cli: (args: string[]) => Promise<unknown>, args: string[]): Promise<string> {
  try {
    await cli(["import", ...args, "--yes"]);
  } catch (error) {
    return String((error as { stderr?: string }).stderr);
  }
  throw new Error("the import succeeded");
}
