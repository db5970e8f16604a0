/**
 * `npx convex import` against convex-local, as Convex's backend answers it
 * (crates/local_backend/src/snapshot_import.rs, crates/application/src/snapshot_import/):
 *
 * - `POST /api/import/start_upload` → `{uploadToken}`; `POST /api/import/upload_part?uploadToken=&partNumber=`
 *   (the body is one part) → the part's token as a JSON string; `POST /api/import/finish_upload`
 *   `{import: {tableName?, componentPath?, mode, format}, uploadToken, partTokens}` → `{importId}`;
 * - the import, a `_snapshot_imports` document, goes `uploaded` → (parsed and checked)
 *   `waiting_for_confirmation` `{message_to_confirm, require_manual_confirmation}` → on
 *   `POST /api/perform_import` `{importId}`: `in_progress` → `completed` `{timestamp, num_rows_written}`,
 *   or `failed` `{error_message}` at any step; the CLI follows it through `_system/cli/queryImport`.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Value } from "convex/values";
import { decodeDocumentId, type Storage } from "../../storage/index.js";
import type { StoredBlob } from "../../storage/blobs.js";
import type { FunctionRunner } from "../../runtime/runner.js";
import { componentPathOf, localName, namespaceOfName } from "../../runtime/components.js";
import { isStorageTable } from "../../runtime/fileStorage.js";
import { RequestError, readJsonObject, sendJson } from "../http.js";
import type { RouteRequest } from "../router.js";
import { applyImport, planImport, type ImportMode, type ImportPlan } from "./importApply.js";
import { ImportError, parseImport, type ImportFormat, type ParsedImport } from "./importParse.js";
import { IMPORTS_TABLE, type SnapshotJobs } from "./snapshotJobs.js";

const FORMATS: readonly ImportFormat[] = ["csv", "jsonLines", "jsonArray", "zip"];
const MODES: readonly ImportMode[] = ["requireEmpty", "append", "replace", "replaceAll"];

export interface SnapshotImportsOptions {
  storage: Storage;
  runner: FunctionRunner;
  jobs: SnapshotJobs;
  /** Where uploads are kept until their import ends. */
  directory: string;
}

interface PendingImport {
  directory: string;
  format: ImportFormat;
  mode: ImportMode;
  parsed: ParsedImport;
}

export class SnapshotImports {
  private readonly pending = new Map<string, PendingImport>();
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly options: SnapshotImportsOptions) {
    // Uploads of a previous run cannot be resumed.
    rmSync(options.directory, { recursive: true, force: true });
    mkdirSync(options.directory, { recursive: true, mode: 0o700 });
  }

  /** `POST /api/import/start_upload`. */
  startUpload({ response }: RouteRequest): void {
    const uploadToken = randomBytes(16).toString("hex");
    mkdirSync(this.uploadDirectory(uploadToken), { mode: 0o700 });
    sendJson(response, 200, { uploadToken });
  }

  /** `POST /api/import/upload_part?uploadToken=…&partNumber=…`. */
  async uploadPart({ request, response }: RouteRequest): Promise<void> {
    const query = new URL(request.url ?? "/", "http://localhost").searchParams;
    const directory = this.existingUpload(query.get("uploadToken"));
    const partNumber = Number(query.get("partNumber"));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 9999) throw new RequestError(400, "InvalidPartNumber", "partNumber must be an integer from 1 to 9999");
    const partToken = `part-${partNumber}`;
    await pipeline(request, createWriteStream(path.join(directory, partToken), { mode: 0o600 }));
    sendJson(response, 200, partToken);
  }

  /** `POST /api/import/finish_upload`. */
  async finishUpload({ request, response }: RouteRequest): Promise<void> {
    const body = await readJsonObject(request);
    const directory = this.existingUpload(body.uploadToken);
    const args = (body.import ?? {}) as Record<string, unknown>;
    const format = args.format as ImportFormat;
    const mode = (args.mode ?? "requireEmpty") as ImportMode;
    if (!FORMATS.includes(format)) throw new RequestError(400, "BadJsonBody", `import.format must be one of ${FORMATS.join(", ")}`);
    if (!MODES.includes(mode)) throw new RequestError(400, "BadJsonBody", `import.mode must be one of ${MODES.join(", ")}`);
    // `npx convex import --component <path>`: the tables (a ZIP's top level) are that component's.
    const componentPath = typeof args.componentPath === "string" ? args.componentPath : "";
    if (componentPath !== "" && !componentPath.split("/").every((name) => /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))) {
      throw new RequestError(400, "InvalidComponentPath", `Invalid component path ${JSON.stringify(componentPath.slice(0, 200))}: component names joined by "/"`);
    }
    const tableName = typeof args.tableName === "string" ? args.tableName : undefined;
    if (format === "zip" && tableName !== undefined) throw new RequestError(400, "InvalidName", "ZIP import cannot have table name");
    if (format !== "zip" && tableName === undefined) throw new RequestError(400, "InvalidName", `${format === "csv" ? "CSV" : format === "jsonArray" ? "JSON" : "JSONL"} import requires table name`);
    if (tableName !== undefined && !/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(tableName)) throw new RequestError(400, "ImportInvalidName", `invalid table name ${tableName}: Table names must start with a letter and contain only letters, digits and underscores`);
    const partTokens = body.partTokens;
    if (!Array.isArray(partTokens) || partTokens.some((token) => typeof token !== "string" || !/^part-\d+$/.test(token))) throw new RequestError(400, "BadJsonBody", "partTokens must be the tokens upload_part answered");
    const upload = path.join(directory, "upload");
    const out = createWriteStream(upload, { mode: 0o600 });
    for (const token of partTokens as string[]) await pipeline(createReadStream(path.join(directory, token)), out, { end: false });
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    const base = { format: format === "zip" ? { format } : { format, table: tableName! }, mode, requestor: { type: "snapshotImport" } };
    const importId = await this.options.jobs.insert(IMPORTS_TABLE, { ...base, state: { state: "uploaded" } });
    this.track(this.prepare(importId, directory, upload, format, mode, tableName, componentPath));
    sendJson(response, 200, { importId });
  }

  /** `POST /api/perform_import` `{importId}`: the confirmation. */
  async performImport({ request, response }: RouteRequest): Promise<void> {
    const { importId } = await readJsonObject(request);
    const pending = typeof importId === "string" ? this.pending.get(importId) : undefined;
    if (pending === undefined) throw new RequestError(400, "InvalidImport", `invalid import id ${String(importId)}`);
    this.pending.delete(importId as string);
    await this.setState(importId as string, { state: "in_progress", progress_message: "Importing", checkpoint_messages: [] });
    this.track(this.perform(importId as string, pending));
    response.writeHead(200).end();
  }

  /** `POST /api/cancel_import` `{importId}`: drops an import waiting for its confirmation. */
  async cancelImport({ request, response }: RouteRequest): Promise<void> {
    const { importId } = await readJsonObject(request);
    const pending = typeof importId === "string" ? this.pending.get(importId) : undefined;
    if (pending === undefined) throw new RequestError(400, "InvalidImport", `invalid import id ${String(importId)}`);
    this.pending.delete(importId as string);
    this.finish(pending);
    await this.setState(importId as string, { state: "failed", error_message: "Import canceled" });
    response.writeHead(200).end();
  }

  /** Resolves once no import is being parsed or committed. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  private track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  /** Parses and checks the upload, then waits for the confirmation with Convex's summary. */
  private async prepare(importId: string, directory: string, upload: string, format: ImportFormat, mode: ImportMode, tableName: string | undefined, componentPath: string): Promise<void> {
    let parsed: ParsedImport | undefined;
    try {
      parsed = await parseImport(upload, format, tableName, componentPath);
      addStorageTables(parsed);
      const plan = planImport(this.options.storage, this.options.runner.analysis, parsed, mode);
      this.pending.set(importId, { directory, format, mode, parsed });
      await this.setState(importId, { state: "waiting_for_confirmation", message_to_confirm: plan.message, require_manual_confirmation: plan.requireManualConfirmation });
    } catch (error) {
      parsed?.close();
      rmSync(directory, { recursive: true, force: true });
      await this.fail(importId, error);
    }
  }

  /** Plans again against the data as it is now, writes the files, commits. */
  private async perform(importId: string, pending: PendingImport): Promise<void> {
    const { storage, runner } = this.options;
    const blobs = new Map<string, StoredBlob>();
    try {
      const analysis = runner.analysis;
      const plan: ImportPlan = planImport(storage, analysis, pending.parsed, pending.mode);
      await this.writeFiles(pending.parsed, blobs);
      const written = await applyImport(storage, runner, plan, pending.mode, analysis, blobs);
      blobs.clear();
      // As Convex's checkpoints: `Imported "notes" in 'echo' (3 documents)` for a component's table.
      const checkpoints = plan.tables.map(({ table }) => {
        const path = componentPathOf(namespaceOfName(table.name));
        const name = `"${localName(table.name)}"${path === "" ? "" : ` in '${path}'`}`;
        const count = table.documents.length.toLocaleString("en-US");
        return isStorageTable(table.name) ? `Imported ${name} (${count} files)` : `Imported ${name} (${count} documents)`;
      });
      await this.setState(importId, { state: "in_progress", progress_message: "Finishing", checkpoint_messages: checkpoints });
      await this.setState(importId, { state: "completed", timestamp: storage.lastCommitTs(), num_rows_written: BigInt(written) });
    } catch (error) {
      await this.fail(importId, error);
    } finally {
      // Files of an import that did not commit are removed; committed ones now belong to `_storage`.
      const files = runner.fileStorage().blobs;
      for (const blob of blobs.values()) files.remove(blob.key);
      this.finish(pending);
    }
  }

  /** Stores each file of the ZIP's `_storage/` folders, checked against the size and SHA-256 its metadata gives. */
  private async writeFiles(parsed: ParsedImport, blobs: Map<string, StoredBlob>): Promise<void> {
    const files = this.options.runner.fileStorage();
    for (const { files: entries, metadata: metadataOf } of parsed.storage) {
      for (const { id, entry } of entries) {
        const metadata = metadataOf.get(id);
        const blob = await files.blobs.write(await parsed.openEntry(entry), {
          maxBytes: Number.MAX_SAFE_INTEGER,
          contentType: metadata?.contentType ?? null,
          expectedSha256: metadata?.sha256 ?? undefined,
        }).catch((error: Error) => {
          throw new ImportError(`${entry.fileName}: ${error.message}`);
        });
        blobs.set(id, blob);
        if (typeof metadata?.size === "number" && metadata.size !== blob.size) throw new ImportError(`${entry.fileName}: the file has ${blob.size} bytes, its metadata says ${metadata.size}`);
      }
    }
  }

  private finish(pending: PendingImport): void {
    pending.parsed.close();
    rmSync(pending.directory, { recursive: true, force: true });
  }

  private async fail(importId: string, error: unknown): Promise<void> {
    const known = error instanceof ImportError || error instanceof RequestError;
    if (!known) console.error(`convex-local: snapshot import failed: ${(error as Error).stack ?? String(error)}`);
    const message = `Hit an error while importing:\n${(error as Error).message}`;
    await this.setState(importId, { state: "failed", error_message: message }).catch(() => undefined);
  }

  private setState(importId: string, state: Record<string, Value>): Promise<void> {
    return this.options.jobs.update(importId, (fields) => ({ ...fields, state }));
  }

  private uploadDirectory(token: string): string {
    return path.join(this.options.directory, token);
  }

  private existingUpload(token: unknown): string {
    if (typeof token !== "string" || !/^[0-9a-f]{32}$/.test(token) || !readdirSync(this.options.directory).includes(token)) {
      throw new RequestError(400, "InvalidUploadToken", "The upload token is invalid: start the upload again");
    }
    return this.uploadDirectory(token);
  }
}

/**
 * Each `_storage/` of the ZIP (the app's, each component's) as an imported table: one row per file
 * present (Convex imports a file even when its metadata line is missing, and ignores metadata
 * without a file), with the `_id` and `_creationTime` of its metadata.
 */
function addStorageTables(parsed: ParsedImport): void {
  for (const { table, metadata, files, file } of parsed.storage) {
    const documents = files.map(({ id, entry }) => {
      if (decodeDocumentId(id) === null) throw new ImportError(`${entry.fileName}: _storage id '${id}' invalid`);
      const creationTime = metadata.get(id)?._creationTime;
      return { id, creationTime: typeof creationTime === "number" ? creationTime : undefined, fields: {} };
    });
    parsed.tables.push({ name: table, file, documents });
  }
}

