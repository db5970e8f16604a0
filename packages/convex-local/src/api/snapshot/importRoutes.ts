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
 *
 * Before the confirmation the rows are read, checked and written into hidden tables in short
 * transactions by an import worker (importStaging.ts, importWriter.ts), and counted for Convex's
 * summary; on the confirmation one commit activates them and completes the import
 * (importActivation.ts): a failed or interrupted import changes nothing visible. (Convex reads the
 * rows twice, once to count them before the confirmation and once to write them after it; writing
 * them at once reads them once.) The tables an import replaced, and those of one that failed, was
 * canceled or was superseded by another upload before its confirmation, are deleted afterwards in
 * the background (hiddenTableDrops.ts); at a start, unfinished imports are marked failed and every
 * hidden table is deleted. One import writes at a time.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Value } from "convex/values";
import { BY_ID_INDEX, type Storage } from "../../storage/index.js";
import { hiddenTables } from "../../storage/hiddenTables.js";
import type { FunctionRunner } from "../../runtime/runner.js";
import type { DeploymentAnalysis } from "../../runtime/functions.js";
import { componentPathOf, localName, namespaceOfName } from "../../runtime/components.js";
import { RequestError, readJsonObject, sendJson } from "../http.js";
import type { RouteRequest } from "../router.js";
import { HiddenTableDrops } from "./hiddenTableDrops.js";
import { activateImport, type Activation, type ActivationRequest } from "./importActivation.js";
import { ImportError, type ImportFormat } from "./importParse.js";
import { checkImport, confirmation, definedTables, schemaOfTable, type ImportMode } from "./importPlan.js";
import { finalTableNames, stageTables, tablesToWrite, type StagedTable } from "./importStaging.js";
import { activateInWorker, peekInWorker, writeInWorker } from "./importWork.js";
import type { UploadToRead } from "./importWriter.js";
import { IMPORTS_TABLE, type SnapshotJobs } from "./snapshotJobs.js";

const FORMATS: readonly ImportFormat[] = ["csv", "jsonLines", "jsonArray", "zip"];
const MODES: readonly ImportMode[] = ["requireEmpty", "append", "replace", "replaceAll"];

export interface SnapshotImportsOptions {
  storage: Storage;
  runner: FunctionRunner;
  jobs: SnapshotJobs;
  /** Where uploads are kept until their rows are written. */
  directory: string;
}

/** An import written into its hidden tables, waiting for its confirmation. */
interface PendingImport {
  mode: ImportMode;
  staged: StagedTable[];
  /** The schemas its rows were checked against (`schemasOf`). */
  schemas: string;
}

/** Why an import stopped when the backend shut down. */
const SHUTDOWN_MESSAGE = "The backend shut down while the import ran: nothing was imported. Run the import again.";

export class SnapshotImports {
  private readonly pending = new Map<string, PendingImport>();
  private readonly running = new Set<Promise<void>>();
  private readonly drops: HiddenTableDrops;
  /** The import writing now: imports write one at a time. */
  private writing: Promise<void> = Promise.resolve();
  private closing = false;

  constructor(private readonly options: SnapshotImportsOptions) {
    // Uploads of a previous run cannot be resumed.
    rmSync(options.directory, { recursive: true, force: true });
    mkdirSync(options.directory, { recursive: true, mode: 0o700 });
    this.drops = new HiddenTableDrops(options.storage, options.runner);
    this.track(this.inTurn(() => this.afterRestart()));
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
    this.track(this.inTurn(() => this.prepare(importId, directory, { path: upload, format, tableName, componentPath }, mode)));
    sendJson(response, 200, { importId });
  }

  /** `POST /api/perform_import` `{importId}`: the confirmation. */
  async performImport({ request, response }: RouteRequest): Promise<void> {
    const { importId } = await readJsonObject(request);
    const pending = typeof importId === "string" ? this.pending.get(importId) : undefined;
    if (pending === undefined) throw new RequestError(400, "InvalidImport", `invalid import id ${String(importId)}`);
    this.pending.delete(importId as string);
    await this.setState(importId as string, { state: "in_progress", progress_message: "Importing", checkpoint_messages: pending.staged.map(checkpoint) });
    this.track(this.inTurn(() => this.activate(importId as string, pending)));
    response.writeHead(200).end();
  }

  /** `POST /api/cancel_import` `{importId}`: drops an import waiting for its confirmation. */
  async cancelImport({ request, response }: RouteRequest): Promise<void> {
    const { importId } = await readJsonObject(request);
    if (typeof importId !== "string" || !this.pending.has(importId)) throw new RequestError(400, "InvalidImport", `invalid import id ${String(importId)}`);
    await this.cancel(importId, "Import canceled");
    response.writeHead(200).end();
  }

  /**
   * Shutdown: an import still writing stops at its next batch (failed, nothing changed) and
   * hidden tables are left for the next start; resolves once nothing runs.
   */
  async idle(): Promise<void> {
    this.closing = true;
    this.drops.stop();
    while (this.running.size > 0) await Promise.all([...this.running]);
    await this.drops.idle();
  }

  private track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  /** What a previous run left: its unfinished imports failed, its hidden tables deleted. */
  private async afterRestart(): Promise<void> {
    const { storage } = this.options;
    const unfinished = storage.tableNumber(IMPORTS_TABLE) === undefined ? [] : [...storage.scanIndex(IMPORTS_TABLE, BY_ID_INDEX, { lowerInclusive: true, upperInclusive: false }, "asc")]
      .map((row) => JSON.parse(row.json) as { _id: string; state: { state: string } })
      .filter(({ state }) => state.state !== "completed" && state.state !== "failed");
    for (const { _id } of unfinished) await this.setState(_id, { state: "failed", error_message: "Hit an error while importing:\nThe backend restarted before the import finished: nothing was imported. Run the import again." });
    this.drops.drop(hiddenTables(storage).map((table) => ({ table, removeBlobs: false })));
  }

  /** Runs `work` once the imports before it are done writing: imports write one at a time. */
  private inTurn(work: () => Promise<void>): Promise<void> {
    const turn = this.writing.then(work);
    this.writing = turn;
    return turn;
  }

  /** Drops an import waiting for its confirmation: its state is failed with `message`, its hidden tables deleted. */
  private async cancel(importId: string, message: string): Promise<void> {
    const pending = this.pending.get(importId);
    if (pending === undefined) return;
    this.pending.delete(importId);
    this.drops.drop(pending.staged.map(({ hidden, files }) => ({ table: hidden, removeBlobs: files })));
    await this.setState(importId, { state: "failed", error_message: message });
  }

  /**
   * Checks the upload against the deployment, writes its rows into hidden tables (checked against
   * the schema, counted), then waits for the confirmation with Convex's summary. An import still
   * waiting for its confirmation is dropped: its hidden tables would hold numbers this one needs.
   */
  private async prepare(importId: string, directory: string, upload: UploadToRead, mode: ImportMode): Promise<void> {
    const { storage, runner } = this.options;
    let staged: StagedTable[] = [];
    try {
      const tables = await peekInWorker(upload);
      this.checkRunning();
      for (const waiting of [...this.pending.keys()]) await this.cancel(waiting, "Import canceled: another import was uploaded before this one was confirmed");
      // Tables an earlier import replaced may still hold numbers this one needs.
      await this.drops.idle();
      const analysis = runner.analysis;
      checkImport(storage, analysis, tables, mode);
      staged = await runner.systemWrite(() => stageTables(storage, tables, mode, importId));
      const request = { databasePath: storage.path, blobDirectory: runner.fileStorage().blobs.directory, upload, mode, tables: tablesToWrite(staged, analysis), finalNames: finalTableNames(storage, staged, mode) };
      const written = await writeInWorker(runner, request, () => this.checkRunning());
      staged.forEach((table, i) => (table.written = written[i]!));
      const { message, requireManualConfirmation } = confirmation(storage, staged.map(({ name, written }) => ({ name, count: written })), mode);
      this.pending.set(importId, { mode, staged, schemas: schemasOf(analysis, staged) });
      await this.setState(importId, { state: "waiting_for_confirmation", message_to_confirm: message, require_manual_confirmation: requireManualConfirmation });
    } catch (error) {
      this.pending.delete(importId);
      this.drops.drop(staged.map(({ hidden, files }) => ({ table: hidden, removeBlobs: files })));
      await this.fail(importId, error);
    } finally {
      // The rows are in the store now (or never will be).
      rmSync(directory, { recursive: true, force: true });
    }
  }

  /**
   * Puts a confirmed import's tables in place in one commit, checked against the data and schemas
   * as they are then: on the main thread when every table is renamed into place (a short commit),
   * in an import worker when rows must be copied (importActivation.ts), whose commit is announced after.
   */
  private async activate(importId: string, pending: PendingImport): Promise<void> {
    const { storage, runner } = this.options;
    const { mode, staged } = pending;
    let committed = false;
    try {
      this.checkRunning();
      const request = (): ActivationRequest => {
        // Checked in the activation's turn: no push commits between the check and the activation.
        if (schemasOf(runner.analysis, staged) !== pending.schemas) throw new ImportError("The schema changed after the import was written: nothing was imported. Run the import again.");
        return { staged, mode, keep: [...definedTables(runner.analysis)], importId };
      };
      let activation: Activation;
      if (staged.every(({ way }) => way === "rename")) {
        activation = await runner.systemWrite((transaction) => {
          const done = activateImport(storage, request());
          transaction.writes.push(...done.writes);
          return done;
        });
        committed = true;
      } else {
        activation = await activateInWorker(runner, storage.path, request);
        committed = true;
        // Readers of the tables it swapped in re-run (the commit was the worker's; this one announces it).
        await runner.systemWrite((transaction) => transaction.writes.push(...activation.writes));
      }
      for (const key of activation.removedBlobs) runner.fileStorage().blobs.remove(key);
      this.drops.drop(activation.drops);
    } catch (error) {
      // A worker may have committed the activation and ended before it answered: the document says.
      committed ||= (this.options.jobs.get(importId)?.state as { state?: string } | undefined)?.state === "completed";
      if (!committed) {
        this.drops.drop(staged.map(({ hidden, files }) => ({ table: hidden, removeBlobs: files })));
        await this.fail(importId, error);
      }
    }
  }

  private checkRunning(): void {
    if (this.closing) throw new ImportError(SHUTDOWN_MESSAGE);
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

/** Convex's checkpoint for a table: `Imported "notes" in 'echo' (3 documents)` for a component's. */
function checkpoint(table: StagedTable): string {
  const path = componentPathOf(namespaceOfName(table.name));
  const name = `"${localName(table.name)}"${path === "" ? "" : ` in '${path}'`}`;
  return `Imported ${name} (${table.written.toLocaleString("en-US")} ${table.files ? "files" : "documents"})`;
}

/** The schemas the import's rows are checked against, as one text: a push that changes them fails the import. */
function schemasOf(analysis: DeploymentAnalysis | undefined, tables: readonly { name: string }[]): string {
  return JSON.stringify(tables.map(({ name }) => schemaOfTable(analysis, name)));
}
