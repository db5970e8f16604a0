/**
 * File bytes of Convex file storage, one file per upload under the data directory, named by a
 * random UUID (the key a download URL carries), with its content type and digest beside it in
 * `<key>.json`. Both are written to temporary names, flushed to disk and only then renamed into
 * place (the bytes last), so a crash never leaves a partial file under a real name; the `_storage`
 * document that points at it is committed after that.
 *
 * @example
 * ```ts
 * const blobs = new BlobStore(path.join(dataDir, "files"));
 * const { key, sha256, size } = await blobs.write(request, { maxBytes: 1 << 30, contentType: "image/png" });
 * blobs.read(key); // Buffer
 * ```
 */
import { createHash, randomUUID } from "node:crypto";
import {
  closeSync,
  createReadStream,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  type ReadStream,
} from "node:fs";
import path from "node:path";

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`The file is larger than the ${maxBytes} bytes convex-local accepts`);
    this.name = "BlobTooLargeError";
  }
}

/** The bytes did not have the SHA-256 the writer promised (Convex's `Sha256Mismatch`). */
export class BlobDigestMismatchError extends Error {
  constructor(expected: string, actual: string) {
    super(`Sha256 mismatch. Expected: ${expected} Actual: ${actual}`);
    this.name = "BlobDigestMismatchError";
  }
}

export interface StoredBlob {
  key: string;
  /** SHA-256 of the bytes, base64 (as Convex reports it). */
  sha256: string;
  size: number;
  contentType: string | null;
}

export interface WriteOptions {
  maxBytes: number;
  contentType: string | null;
  /** Base64 SHA-256 the bytes must have; the write fails and leaves nothing behind otherwise. */
  expectedSha256?: string;
}

/** Inclusive byte range of a partial read. */
export interface ByteRange {
  start: number;
  end: number;
}

/** True for a base64 SHA-256 digest (44 characters, 32 bytes), the form `Digest: sha-256=…` carries. */
export function isSha256Base64(value: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(value);
}

const KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const METADATA_SUFFIX = ".json";
const TEMPORARY_SUFFIX = ".partial";

export class BlobStore {
  constructor(readonly directory: string) {
    mkdirSync(directory, { recursive: true });
  }

  /** True for a string shaped like the keys this store hands out. */
  static isKey(key: string): boolean {
    return KEY.test(key);
  }

  /** Writes the bytes durably under a new key. */
  async write(bytes: AsyncIterable<Uint8Array> | Uint8Array, { maxBytes, contentType, expectedSha256 }: WriteOptions): Promise<StoredBlob> {
    const key = randomUUID();
    const temporary = path.join(this.directory, `${key}${TEMPORARY_SUFFIX}`);
    const metadataTemporary = `${temporary}${METADATA_SUFFIX}`;
    const hash = createHash("sha256");
    let size = 0;
    try {
      const fd = openSync(temporary, "wx");
      try {
        for await (const chunk of bytes instanceof Uint8Array ? [bytes] : bytes) {
          size += chunk.length;
          if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
          hash.update(chunk);
          writeSync(fd, chunk);
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      const sha256 = hash.digest("base64");
      if (expectedSha256 !== undefined && expectedSha256 !== sha256) throw new BlobDigestMismatchError(expectedSha256, sha256);
      writeDurably(metadataTemporary, JSON.stringify({ sha256, size, contentType }));
      renameSync(metadataTemporary, `${this.pathOf(key)}${METADATA_SUFFIX}`);
      renameSync(temporary, this.pathOf(key));
      this.syncDirectory();
      return { key, sha256, size, contentType };
    } catch (error) {
      rmSync(temporary, { force: true });
      rmSync(metadataTemporary, { force: true });
      throw error;
    }
  }

  read(key: string): Buffer | null {
    try {
      return readFileSync(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  /** What is known of the file `key`, or null when there is none. */
  describe(key: string): StoredBlob | null {
    try {
      statSync(this.pathOf(key));
      const metadata = JSON.parse(readFileSync(`${this.pathOf(key)}${METADATA_SUFFIX}`, "utf8")) as Omit<StoredBlob, "key">;
      return { key, ...metadata };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  /** A stream of the file's bytes, or of `range` of them. */
  stream(key: string, range?: ByteRange): ReadStream {
    return createReadStream(this.pathOf(key), range);
  }

  remove(key: string): void {
    rmSync(this.pathOf(key), { force: true });
    rmSync(`${this.pathOf(key)}${METADATA_SUFFIX}`, { force: true });
  }

  /**
   * Removes what a crash can leave behind: unfinished writes, and files whose `_storage` document
   * never committed or whose deletion committed before the bytes went. Only safe while no write is
   * under way.
   */
  removeAllExcept(referenced: ReadonlySet<string>): void {
    for (const name of readdirSync(this.directory)) {
      const key = name.endsWith(METADATA_SUFFIX) ? name.slice(0, -METADATA_SUFFIX.length) : name;
      if (!BlobStore.isKey(key) || !referenced.has(key)) rmSync(path.join(this.directory, name), { force: true });
    }
  }

  private pathOf(key: string): string {
    if (!BlobStore.isKey(key)) throw new Error(`Not a file key: ${JSON.stringify(key)}`);
    return path.join(this.directory, key);
  }

  /** Makes the renames themselves durable. */
  private syncDirectory(): void {
    const fd = openSync(this.directory, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

function writeDurably(file: string, text: string): void {
  const fd = openSync(file, "wx");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
