/**
 * Convex file storage (`ctx.storage`): the `_storage` system table, its syscalls, upload URLs and
 * file URLs. A `_storage` document holds what Convex shows of a file (`sha256` in base64, `size`,
 * `contentType`) plus the key of its bytes in the blob store, which `ctx.db` never shows: file
 * URLs carry that key (Convex's legacy storage id, which `getMetadata` still reports and every
 * storage call still accepts), so an `Id<"_storage">` alone does not give the file away, as on
 * Convex. Upload URLs carry a token signed with a key kept in the database, so they stay valid
 * for their hour across restarts, as Convex's do.
 *
 * Each component instance has its own `_storage` (components.ts; `@c/_storage` for the component
 * `c`), as on Convex: its `ctx.storage` finds only its own files, and an upload URL it hands out
 * stores into its table (the token names the component, as Convex's does). The bytes of every
 * namespace's files share one blob store, keyed by random UUIDs, so a file URL needs no component.
 *
 * @example
 * ```ts
 * const files = FileStorage.open(storage, new BlobStore(dir), "http://127.0.0.1:3210");
 * files.uploadUrl();                                          // POST target for a browser upload
 * files.syscall("1.0/storageGetUrl", { storageId }, transaction); // GET URL of the bytes, or null
 * ```
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { JSONValue } from "convex/values";
import { decodeDocumentId, type Storage } from "../storage/index.js";
import { BlobStore, type StoredBlob } from "../storage/blobs.js";
import type { DocumentWrite, Transaction } from "../transactions/transaction.js";
import { componentPathOf, localName, namespaceOf, qualifiedPath } from "./components.js";
import { unknownAsyncOperation } from "./metadataSyscalls.js";

export const STORAGE_TABLE = "_storage";
/** Largest file an upload URL or `ctx.storage.store` accepts unless configured otherwise. */
const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;
/** The document field holding the blob key; stripped from what functions read. */
const BLOB_KEY_FIELD = "blobKey";
const BY_BLOB_KEY_INDEX = "by_blob_key";
const UPLOAD_TOKEN_KEY_META = "fileStorage/uploadTokenKey";
/** Convex's `STORE_FILE_AUTHORIZATION_VALIDITY`. */
const UPLOAD_TOKEN_VALIDITY_MS = 60 * 60 * 1000;

/** The stored name of the `_storage` table of `namespace` ("" for the app's). */
export function storageTableOf(namespace: string): string {
  return qualifiedPath(namespace, STORAGE_TABLE);
}

/** Whether a stored table is the `_storage` table of some namespace. */
export function isStorageTable(stored: string | null): boolean {
  return stored !== null && localName(stored) === STORAGE_TABLE;
}

/** The indexes every `_storage` table has besides by_id and by_creation_time. */
export const STORAGE_TABLE_INDEXES: readonly { name: string; fields: string[] }[] = [{ name: BY_BLOB_KEY_INDEX, fields: [BLOB_KEY_FIELD] }];

/** A `_storage` document as stored. */
export interface StorageEntry {
  _id: string;
  _creationTime: number;
  blobKey: string;
  sha256: string;
  size: number;
  contentType?: string;
}

/** An upload URL's token that does not verify (`StorageTokenInvalid`) or has expired (`StorageTokenExpired`). */
export class UploadTokenError extends Error {
  constructor(
    readonly code: "StorageTokenInvalid" | "StorageTokenExpired",
    message: string,
  ) {
    super(message);
    this.name = "UploadTokenError";
  }
}

/** A document as functions see it: a `_storage` one without its blob key. */
export function withoutBlobKey(document: Record<string, JSONValue>, tableOf: (id: string) => string | null): Record<string, JSONValue> {
  if (!(BLOB_KEY_FIELD in document) || !isStorageTable(tableOf(document._id as string))) return document;
  const { [BLOB_KEY_FIELD]: _hidden, ...visible } = document;
  return visible;
}

/** Where another thread finds this file storage (see `FileStorage.inThread`). */
export interface FileStorageThreadOptions {
  blobsDirectory: string;
  deploymentUrl: string;
  maxFileBytes: number;
}

export class FileStorage {
  /**
   * Prepares file storage over `storage`: the app's `_storage` table and its index by blob key exist
   * (so storage ids resolve before the first upload; components' are made as they are pushed), the
   * token key is loaded or created, and files a crash left without a document in any namespace's
   * `_storage` are removed. Call before serving requests.
   */
  static open(storage: Storage, blobs: BlobStore, deploymentUrl: string, maxFileBytes = DEFAULT_MAX_FILE_BYTES): FileStorage {
    if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 0) throw new Error(`maxFileBytes must be a whole number of bytes, got ${maxFileBytes}`);
    storage.ensureTable(STORAGE_TABLE);
    for (const { name } of storage.listTables()) {
      if (isStorageTable(name) && !storage.listIndexes(name).some((index) => index.name === BY_BLOB_KEY_INDEX)) storage.setIndexes(name, STORAGE_TABLE_INDEXES);
    }
    let tokenKey = storage.getMeta<string>(UPLOAD_TOKEN_KEY_META);
    if (tokenKey === undefined) {
      tokenKey = randomBytes(32).toString("base64");
      storage.setMeta(UPLOAD_TOKEN_KEY_META, tokenKey);
    }
    const referenced = new Set<string>();
    for (const { name } of storage.listTables()) {
      if (!isStorageTable(name)) continue;
      for (const row of storage.scanIndex(name, BY_BLOB_KEY_INDEX, { lowerInclusive: true, upperInclusive: false }, "asc")) {
        referenced.add((JSON.parse(row.json) as StorageEntry).blobKey);
      }
    }
    blobs.removeAllExcept(referenced);
    return new FileStorage(blobs, deploymentUrl, Buffer.from(tokenKey, "base64"), maxFileBytes);
  }

  /**
   * File storage as a worker thread sees it (a query or mutation worker), over its own connection
   * to a store that `open` has prepared (see `threadOptions`).
   */
  static inThread(storage: Storage, { blobsDirectory, deploymentUrl, maxFileBytes }: FileStorageThreadOptions): FileStorage {
    const tokenKey = storage.getMeta<string>(UPLOAD_TOKEN_KEY_META);
    if (tokenKey === undefined) throw new Error("File storage was not prepared: FileStorage.open() must run first");
    return new FileStorage(new BlobStore(blobsDirectory), deploymentUrl, Buffer.from(tokenKey, "base64"), maxFileBytes);
  }

  /** What `inThread` needs to open this file storage in another thread. */
  threadOptions(): FileStorageThreadOptions {
    return { blobsDirectory: this.blobs.directory, deploymentUrl: this.deploymentUrl, maxFileBytes: this.maxFileBytes };
  }

  private constructor(
    readonly blobs: BlobStore,
    private readonly deploymentUrl: string,
    private readonly tokenKey: Buffer,
    /** Largest file an upload URL or `ctx.storage.store` accepts. */
    readonly maxFileBytes: number,
  ) {}

  /**
   * A URL a client can POST files to for an hour (not single-use, as on Convex), storing them in
   * the `_storage` of `namespace`. The app's token is `<expiry>.<signature>`; a component's is
   * `<expiry>.<base64url component path>.<signature>`, the signature covering what precedes it.
   */
  uploadUrl(now = Date.now(), namespace = ""): string {
    const expires = String(now + UPLOAD_TOKEN_VALIDITY_MS);
    const signed = namespace === "" ? expires : `${expires}.${Buffer.from(componentPathOf(namespace)).toString("base64url")}`;
    return `${this.deploymentUrl}/api/storage/upload?token=${signed}.${this.sign(signed)}`;
  }

  /**
   * The namespace whose `_storage` an upload with `token` goes to; throws an `UploadTokenError`
   * unless `token` is one `uploadUrl` made and it has not expired.
   */
  checkUploadToken(token: string, now = Date.now()): string {
    const parts = token.split(".");
    const signature = parts.pop();
    const [expires, component] = parts;
    const signed = parts.join(".");
    const valid = parts.length >= 1 && parts.length <= 2 && /^\d+$/.test(expires ?? "") && (component === undefined || /^[A-Za-z0-9_-]+$/.test(component)) && signature !== undefined && this.verify(signed, signature);
    if (!valid) {
      throw new UploadTokenError("StorageTokenInvalid", "The upload URL's token is invalid: generate a new URL with `ctx.storage.generateUploadUrl()`.");
    }
    if (Number(expires) <= now) {
      throw new UploadTokenError("StorageTokenExpired", "The upload URL has expired (they last an hour): generate a new one with `ctx.storage.generateUploadUrl()`.");
    }
    return component === undefined ? "" : namespaceOf(Buffer.from(component, "base64url").toString());
  }

  /** The `ctx.storage` syscalls of queries, mutations and actions of `namespace`, against `transaction`. */
  syscall(op: string, args: Record<string, unknown>, transaction: Transaction, namespace = ""): JSONValue {
    switch (op) {
      case "1.0/storageGenerateUploadUrl":
        return this.uploadUrl(Date.now(), namespace);
      case "1.0/storageGetUrl": {
        const entry = this.entry(transaction, args.storageId, "getUrl", namespace);
        return entry === null ? null : `${this.deploymentUrl}/api/storage/${entry.blobKey}`;
      }
      case "1.0/storageGetMetadata": {
        // Convex's (deprecated) metadata: the legacy id and a hex digest.
        const entry = this.entry(transaction, args.storageId, "getMetadata", namespace);
        if (entry === null) return null;
        const sha256 = Buffer.from(entry.sha256, "base64").toString("hex");
        return { storageId: entry.blobKey, sha256, size: entry.size, contentType: entry.contentType ?? null };
      }
      case "1.0/storageDelete": {
        if (!transaction.writable) throw new Error("Files can only be deleted in mutations and actions");
        const entry = this.entry(transaction, args.storageId, "delete", namespace);
        if (entry === null) throw new Error(`storage id ${String(args.storageId)} not found`);
        transaction.delete(entry._id);
        return null;
      }
      default:
        throw unknownAsyncOperation(op);
    }
  }

  /** `ctx.storage.get` in an action of `namespace`: the file as a Blob, or null. */
  readBlob(transaction: Transaction, storageId: unknown, namespace = ""): Blob | null {
    const entry = this.entry(transaction, storageId, "get", namespace);
    const bytes = entry === null ? null : this.blobs.read(entry.blobKey);
    return entry === null || bytes === null ? null : new Blob([new Uint8Array(bytes)], { type: entry.contentType ?? "" });
  }

  /** Records stored bytes as a document of the `_storage` of `namespace`; returns its id. */
  insert(transaction: Transaction, blob: StoredBlob, namespace = ""): string {
    return transaction.insert(storageTableOf(namespace), {
      [BLOB_KEY_FIELD]: blob.key,
      sha256: blob.sha256,
      size: blob.size,
      ...(blob.contentType ? { contentType: blob.contentType } : {}),
    });
  }

  /** After a commit: removes the bytes of the `_storage` documents it deleted. */
  removeBlobsOf(writes: readonly DocumentWrite[]): void {
    for (const write of writes) {
      if (!isStorageTable(write.table) || write.after !== null || write.before === null) continue;
      this.blobs.remove((JSON.parse(write.before) as StorageEntry).blobKey);
    }
  }

  /**
   * The document of the `_storage` of `namespace` that `storageId` names, or null. Like Convex, this
   * takes an `Id<"_storage">` or a file URL's UUID, and refuses ids of other tables (another
   * namespace's `_storage` included) and other strings.
   */
  private entry(transaction: Transaction, storageId: unknown, operation: string, namespace: string): StorageEntry | null {
    const table = storageTableOf(namespace);
    if (typeof storageId !== "string") {
      throw new Error(`Invalid argument \`storageId\` for \`storage.${operation}\`: expected a string, got ${JSON.stringify(storageId) ?? "undefined"}`);
    }
    if (decodeDocumentId(storageId) !== null) {
      if (transaction.tableOfId(storageId) !== table) {
        throw new Error("Invalid storage ID. Storage ID cannot be an ID on any table other than '_storage'.");
      }
      const json = transaction.get(storageId);
      return json === null ? null : (JSON.parse(json) as StorageEntry);
    }
    const key = storageId.toLowerCase();
    if (!BlobStore.isKey(key)) {
      throw new Error(
        `Invalid argument \`storageId\` for \`storage.${operation}\`: Invalid storage ID: "${storageId}". Storage ID should be an Id of '_storage' table, or a UUID string.`,
      );
    }
    const stream = transaction.openStream({
      source: { type: "IndexRange", indexName: `${table}.${BY_BLOB_KEY_INDEX}`, range: [{ type: "Eq", fieldPath: BLOB_KEY_FIELD, value: key }], order: "asc" },
      operators: [],
    });
    const row = stream.next();
    transaction.recordStreamRead(stream);
    return row === null ? null : (JSON.parse(row.json) as StorageEntry);
  }

  private sign(value: string): string {
    return createHmac("sha256", this.tokenKey).update(value).digest("base64url");
  }

  private verify(value: string, signature: string): boolean {
    const expected = Buffer.from(this.sign(value));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
