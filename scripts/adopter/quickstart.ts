/**
 * The quickstart of packages/convex-authjs/README.md as data: the files it lists (code blocks whose
 * info string names `file=<path>`), its install commands (the block marked `sh install`) and its
 * secrets commands (`sh secrets`). The adopter test builds its app from these, so the README cannot
 * drift from what works.
 */
import { readFileSync } from "node:fs";

export interface Quickstart {
  /** Path relative to the app → its whole content. */
  files: Map<string, string>;
  /** Each npm command of the install block (`npm init`, `npm pkg`, `npm install`), split into arguments after `npm`. */
  npmCommands: string[][];
  /** The secrets block, a shell script run as is in the app's directory. */
  secretsScript: string;
}

const FENCE = /^```([^\s`]+)[ \t]*([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm;

export function parseQuickstart(readme: string): Quickstart {
  const files = new Map<string, string>();
  let installBlock: string | undefined;
  let secretsScript: string | undefined;
  for (const [, language, info, body] of readme.matchAll(FENCE)) {
    const file = /(?:^|\s)file=(\S+)/.exec(info)?.[1];
    if (file !== undefined) {
      if (files.has(file)) throw new Error(`The README lists ${file} twice.`);
      files.set(file, body);
    } else if (language === "sh" && info.trim() === "install") {
      installBlock = body;
    } else if (language === "sh" && info.trim() === "secrets") {
      secretsScript = body;
    }
  }
  if (installBlock === undefined) throw new Error("The README has no ```sh install block.");
  if (secretsScript === undefined) throw new Error("The README has no ```sh secrets block.");
  // `mkdir` and `cd` are the test's own: it makes the directory.
  const npmCommands = installBlock
    .split("\n")
    .flatMap((line) => line.split("&&"))
    .map((command) => command.trim())
    .filter((command) => command.startsWith("npm "))
    .map((command) => command.split(/\s+/).slice(1));
  if (!npmCommands.some(([subcommand]) => subcommand === "install")) throw new Error("The README's install block has no npm install command.");
  return { files, npmCommands, secretsScript };
}

export function readQuickstart(readmePath: string): Quickstart {
  return parseQuickstart(readFileSync(readmePath, "utf8"));
}
