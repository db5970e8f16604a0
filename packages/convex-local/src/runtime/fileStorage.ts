/**
 * Convex file storage (`ctx.storage`): the `_storage` system table, upload URLs and file URLs.
 * A `_storage` document holds what Convex shows of a file (`sha256` in base64, `size`,
 * `contentType`) plus the key of its bytes in the blob store, which functions never see: file URLs
 * carry that key, so a storage id alone does not give the file away, as on Convex. Upload URLs
 * carry a token signed by this process and valid for an hour (a restart invalidates them).
 *
 * @example
 * ```ts
 * const files = new FileStorage(new BlobStore(dir), "http://127.0.0.1:3210");
 * files.uploadUrl();                      // POST target for a browser upload
 * files.entry(transaction, storageId);    // the document, or null
 * files.urlOf(entry);                     // GET URL of the bytes
 * ```
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { JSONValue } from "convex/values";
import type { BlobStore, StoredBlob } from "../storage/blobs.js";
import type { Transaction } from "../transactions/transaction.js";

export const STORAGE_TABLE = "_storage";
/** The document field holding the blob key; stripped from what functions read. */
const BLOB_KEY_FIELD = "blobKey";
const UPLOAD_TOKEN_VALIDITY_MS = 60 * 60 * 1000;

export interface StorageEntry {
  _id: string;
  _creationTime: number;
  blobKey: string;
  sha256: string;
  size: number;
  contentType?: string;
}

/** `ctx.storage.getMetadata`'s answer. */
export interface FileMetadata {
  storageId: string;
  sha256: string;
  size: number;
  contentType: string | null;
}

/** A document as functions see it: a `_storage` one without its blob key. */
export function withoutBlobKey(document: Record<string, JSONValue>, tableOf: (id: string) => string | null): Record<string, JSONValue> {
  if (!(BLOB_KEY_FIELD in document) || tableOf(document._id as string) !== STORAGE_TABLE) return document;
  const { [BLOB_KEY_FIELD]: _hidden, ...visible } = document;
  return visible;
}

export class FileStorage {
  private readonly tokenKey = randomBytes(32);

  constructor(
    readonly blobs: BlobStore,
    private readonly deploymentUrl: string,
  ) {}

  /** A URL a client can POST one file to, for an hour. */
  uploadUrl(now = Date.now()): string {
    const expires = String(now + UPLOAD_TOKEN_VALIDITY_MS);
    return `${this.deploymentUrl}/api/storage/upload?token=${expires}.${this.sign(expires)}`;
  }

  /** Whether `token` is one `uploadUrl` made and has not expired. */
  acceptsUploadToken(token: string, now = Date.now()): boolean {
    const [expires, signature, ...rest] = token.split(".");
    if (rest.length > 0 || !/^\d+$/.test(expires ?? "") || signature === undefined) return false;
    const expected = Buffer.from(this.sign(expires));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected) && Number(expires) > now;
  }

  /** Records stored bytes as a `_storage` document; returns its id. */
  insert(transaction: Transaction, blob: StoredBlob): string {
    return transaction.insert(STORAGE_TABLE, {
      [BLOB_KEY_FIELD]: blob.uuid,
      sha256: blob.sha256,
      size: blob.size,
      ...(blob.contentType ? { contentType: blob.contentType } : {}),
    });
  }

  /** The `_storage` document of `storageId`, or null (also for an id of another table). */
  entry(transaction: Transaction, storageId: unknown): StorageEntry | null {
    if (typeof storageId !== "string" || transaction.tableOfId(storageId) !== STORAGE_TABLE) return null;
    const json = transaction.get(storageId);
    return json === null ? null : (JSON.parse(json) as StorageEntry);
  }

  urlOf(entry: StorageEntry): string {
    return `${this.deploymentUrl}/api/storage/${entry.blobKey}`;
  }

  metadataOf(entry: StorageEntry): FileMetadata {
    return { storageId: entry._id, sha256: entry.sha256, size: entry.size, contentType: entry.contentType ?? null };
  }

  /** Deletes the document; the bytes go once that commits (`removeBlobsOf`). */
  delete(transaction: Transaction, storageId: unknown): void {
    const entry = this.entry(transaction, storageId);
    if (entry === null) throw new Error(`Storage ID "${String(storageId)}" not found`);
    transaction.delete(entry._id);
  }

  /** After a commit: removes the bytes of the `_storage` documents it deleted. */
  removeBlobsOf(writes: readonly { table: string; before: string | null; after: string | null }[]): void {
    for (const write of writes) {
      if (write.table !== STORAGE_TABLE || write.after !== null || write.before === null) continue;
      this.blobs.remove((JSON.parse(write.before) as StorageEntry).blobKey);
    }
  }

  private sign(value: string): string {
    return createHmac("sha256", this.tokenKey).update(value).digest("base64url");
  }
}
