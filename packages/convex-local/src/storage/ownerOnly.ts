/**
 * Owner-only permissions for what a deployment keeps at rest: its data directory (0700) and the files
 * holding secrets (0600): the database (environment variables, the upload-token key) with SQLite's
 * -wal and -shm files, the admin key, `.env.local`. Applied on every start, so a directory or file
 * that an older version left readable by others is closed too; a directory is changed only when it
 * holds nothing but the deployment's own files.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync } from "node:fs";

/**
 * Creates `dir` (and missing parents) owner-only, and makes an existing one owner-only when it is
 * the deployment's own: empty, or holding nothing but `ownEntries`. A directory that holds other
 * things too (`--data .`, a shared folder) keeps its mode: the result is false, for the caller to say so.
 */
export function ownerOnlyDirectory(dir: string, ownEntries: readonly string[]): boolean {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } else if (readdirSync(dir).some((entry) => !ownEntries.includes(entry))) {
    return false;
  }
  chmodSync(dir, 0o700);
  return true;
}

/**
 * Creates `file` empty and owner-only if absent, and makes an existing one owner-only, before any
 * secret is written to it.
 */
export function ownerOnlyFile(file: string): void {
  closeSync(openSync(file, "a", 0o600));
  chmodSync(file, 0o600);
}

/**
 * The SQLite database at `file` and its -wal and -shm files, owner-only. SQLite creates -wal and -shm
 * with the database file's mode, so only those an earlier open left need changing.
 */
export function ownerOnlyDatabase(file: string): void {
  ownerOnlyFile(file);
  for (const companion of [`${file}-wal`, `${file}-shm`]) if (existsSync(companion)) chmodSync(companion, 0o600);
}
