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
 * const { uuid, sha256, size } = await blobs.write(request, { maxBytes: 1 << 30, contentType: "image/png" });
 * blobs.read(uuid); // Buffer
 * ```
 */
import { createHash, randomUUID } from "node:crypto";
import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, type ReadStream } from "node:fs";
import path from "node:path";

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`The file is larger than the ${maxBytes} bytes convex-local accepts`);
    this.name = "BlobTooLargeError";
  }
}

export interface StoredBlob {
  uuid: string;
  /** SHA-256 of the bytes, base64 (as Convex reports it). */
  sha256: string;
  size: number;
  contentType: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class BlobStore {
  constructor(private readonly directory: string) {
    mkdirSync(directory, { recursive: true });
  }

  /** True for a string shaped like the keys this store hands out. */
  static isKey(uuid: string): boolean {
    return UUID.test(uuid);
  }

  /** Writes the bytes durably under a new key. */
  async write(bytes: AsyncIterable<Uint8Array> | Uint8Array, { maxBytes, contentType }: { maxBytes: number; contentType: string | null }): Promise<StoredBlob> {
    const uuid = randomUUID();
    const temporary = path.join(this.directory, `${uuid}.partial`);
    const hash = createHash("sha256");
    const fd = openSync(temporary, "wx");
    let size = 0;
    try {
      for await (const chunk of bytes instanceof Uint8Array ? [bytes] : bytes) {
        size += chunk.length;
        if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
        hash.update(chunk);
        writeSync(fd, chunk);
      }
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      rmSync(temporary, { force: true });
      throw error;
    }
    closeSync(fd);
    const blob: StoredBlob = { uuid, sha256: hash.digest("base64"), size, contentType };
    const metadataTemporary = `${temporary}.json`;
    writeDurably(metadataTemporary, JSON.stringify({ sha256: blob.sha256, size, contentType }));
    renameSync(metadataTemporary, `${this.pathOf(uuid)}.json`);
    renameSync(temporary, this.pathOf(uuid));
    this.syncDirectory();
    return blob;
  }

  read(uuid: string): Buffer | null {
    try {
      return readFileSync(this.pathOf(uuid));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  /** A stream of the file with what is known of it, or null when there is none. */
  open(uuid: string): { stream: ReadStream; blob: StoredBlob } | null {
    try {
      statSync(this.pathOf(uuid));
      const metadata = JSON.parse(readFileSync(`${this.pathOf(uuid)}.json`, "utf8")) as Omit<StoredBlob, "uuid">;
      return { stream: createReadStream(this.pathOf(uuid)), blob: { uuid, ...metadata } };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  remove(uuid: string): void {
    rmSync(this.pathOf(uuid), { force: true });
    rmSync(`${this.pathOf(uuid)}.json`, { force: true });
  }

  private pathOf(uuid: string): string {
    if (!BlobStore.isKey(uuid)) throw new Error(`Not a file key: ${JSON.stringify(uuid)}`);
    return path.join(this.directory, uuid);
  }

  /** Makes the rename itself durable. */
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
