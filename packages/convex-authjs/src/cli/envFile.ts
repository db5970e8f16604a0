import { existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * A value in double quotes with escaped newlines: dotenv (and so Next.js)
 * reads `\n` back as a newline, and the JWT bridge accepts the escaped form
 * too, so the PEM survives any loader.
 */
export function quoteForEnvFile(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/\r?\n/g, "\\n").replace(/"/g, '\\"')}"`;
}

/**
 * Sets `name` in an env file, replacing an existing assignment (including a
 * double-quoted value spread over several lines) and keeping every other
 * line. Creates the file, readable by its owner only, when missing.
 */
export function setEnvFileVariable(path: string, name: string, quotedValue: string): void {
  const lines = existsSync(path) ? readFileSync(path, "utf8").split(/\r?\n/) : [];
  const assignment = new RegExp(`^\\s*(?:export\\s+)?${name}\\s*=\\s*(.*)$`);
  const kept: string[] = [];
  let replaced = false;
  for (let i = 0; i < lines.length; i++) {
    const match = assignment.exec(lines[i]);
    if (!match) {
      kept.push(lines[i]);
      continue;
    }
    // Skip the continuation lines of a multi-line double-quoted value.
    if (match[1].startsWith('"') && !/^"(?:[^"\\]|\\.)*"/.test(match[1])) {
      while (i + 1 < lines.length && !/(^|[^\\])"\s*$/.test(lines[i + 1])) i++;
      i++;
    }
    if (!replaced) kept.push(`${name}=${quotedValue}`);
    replaced = true;
  }
  if (!replaced) {
    if (kept.length > 0 && kept[kept.length - 1] === "") kept.pop();
    kept.push(`${name}=${quotedValue}`);
  }
  writeFileSync(path, `${kept.join("\n")}\n`, { mode: 0o600 });
}
