/**
 * `npx convex export` against convex-local, as Convex's backend answers it
 * (crates/local_backend/src/snapshot_export.rs, crates/application/src/exports/):
 *
 * - `POST /api/export/request/zip?includeStorage=true|false` records a requested export in
 *   `_exports` (400 `ExportInProgress` while another is requested or running) and starts it;
 * - the CLI follows `_system/cli/exports:getLatest` (snapshotJobs.ts) through `requested`,
 *   `in_progress` (with `progress_message`) to `completed` (`start_ts`, `complete_ts`,
 *   `zip_object_key`) or `failed`;
 * - `GET /api/export/zip/<start_ts or export id>` streams the ZIP, named by `Content-Disposition`.
 *
 * The ZIP is written to the data directory's `exports/` from one consistent snapshot (a read
 * transaction of its own, storage/snapshotRead.ts) while writes go on; `start_ts` is that
 * snapshot's commit timestamp. Only the newest completed export is kept on disk.
 */
import { createReadStream, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import type { Value } from "convex/values";
import { SnapshotRead } from "../../storage/snapshotRead.js";
import type { BlobStore } from "../../storage/blobs.js";
import { decodeDocumentId, type Storage } from "../../storage/index.js";
import { RequestError } from "../http.js";
import type { RouteRequest } from "../router.js";
import { EXPORTS_TABLE, type SnapshotJobs } from "./snapshotJobs.js";
import { writeSnapshotZip } from "./zipExport.js";

const REQUESTOR = "snapshotExport";
/** How long a finished export is offered (Convex's default expiration: 14 days). */
const EXPIRATION_MS = 14 * 24 * 60 * 60 * 1000;

export interface SnapshotExportsOptions {
  storage: Storage;
  jobs: SnapshotJobs;
  blobs: () => BlobStore;
  /** Where finished ZIPs are kept. */
  directory: string;
  /** The deployment's name in download file names (`snapshot_<name>_<ts>.zip`). */
  deploymentName: string;
}

export class SnapshotExports {
  private running: Promise<void> | undefined;

  constructor(private readonly options: SnapshotExportsOptions) {
    mkdirSync(options.directory, { recursive: true, mode: 0o700 });
    // A ZIP a crash left half written is of no use.
    for (const name of readdirSync(options.directory)) if (name.endsWith(".partial")) rmSync(path.join(options.directory, name), { force: true });
  }

  /** `POST /api/export/request/zip?includeStorage=…`. */
  async request({ request, response }: RouteRequest): Promise<void> {
    const query = new URL(request.url ?? "/", "http://localhost").searchParams;
    const includeStorage = query.get("includeStorage") === "true";
    if (query.get("component")) throw new RequestError(400, "ComponentsNotSupported", "convex-local does not export components yet.");
    if (this.running !== undefined) throw new RequestError(400, "ExportInProgress", "There is already an export requested or in progress.");
    const format = { format: "zip", include_storage: includeStorage };
    const expiration = BigInt(Date.now() + EXPIRATION_MS) * 1_000_000n;
    const base = { format, component: null, requestor: REQUESTOR, expiration_ts: expiration };
    const id = await this.options.jobs.insert(EXPORTS_TABLE, { state: "requested", ...base });
    this.running = this.run(id, includeStorage, base).finally(() => (this.running = undefined));
    response.writeHead(200).end();
  }

  /** `GET /api/export/zip/<start_ts or id>`. */
  download({ response, rest }: RouteRequest): void {
    const wanted = decodeURIComponent(rest);
    const completed = this.options.jobs.newest(EXPORTS_TABLE, 100).find((job) => job.state === "completed" && (String(job.start_ts) === wanted || job._id === wanted));
    if (completed === undefined) {
      if (decodeDocumentId(wanted) === null && !/^\d+$/.test(wanted)) throw new RequestError(400, "BadSnapshotId", "Snapshot Id did not parse to an ID.");
      throw new RequestError(404, "ExportNotFound", `The requested export ${wanted} was not found`);
    }
    const file = path.join(this.options.directory, completed.zip_object_key as string);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new RequestError(404, "ExportNotFound", `The requested export ${String(completed.start_ts)} was not found`);
    }
    response.writeHead(200, {
      "Content-Type": "application/zip",
      "Content-Length": size,
      "Content-Disposition": `attachment; filename=snapshot_${this.options.deploymentName}_${String(completed.start_ts)}.zip`,
      "Cache-Control": "private, max-age=2592000",
    });
    const stream = createReadStream(file);
    stream.on("error", () => response.destroy());
    stream.pipe(response);
  }

  /** Resolves once the export running now (if any) has finished. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async run(id: string, includeStorage: boolean, base: Record<string, Value>): Promise<void> {
    const { jobs, storage, directory } = this.options;
    let startTs: bigint | undefined;
    let snapshot: SnapshotRead | undefined;
    try {
      snapshot = SnapshotRead.open(storage.path);
      startTs = snapshot.snapshotTs;
      const inProgress = (progress: string): Record<string, Value> => ({ state: "in_progress", ...base, start_ts: startTs!, progress_message: progress });
      await jobs.update(id, () => inProgress("Beginning backup"));
      const name = `${startTs}.zip`;
      const partial = path.join(directory, `${name}.partial`);
      let progress = Promise.resolve();
      await writeSnapshotZip(snapshot, partial, {
        includeStorage,
        blobs: this.options.blobs(),
        onProgress: (message) => {
          progress = progress.then(() => jobs.update(id, () => inProgress(message))).catch(() => undefined);
        },
      });
      await progress;
      renameSync(partial, path.join(directory, name));
      await jobs.update(id, () => ({ state: "completed", ...base, start_ts: startTs!, complete_ts: storage.lastCommitTs(), zip_object_key: name, size: BigInt(statSync(path.join(directory, name)).size) }));
      this.removeExportsBut(name);
    } catch (error) {
      console.error(`convex-local: snapshot export failed: ${(error as Error).message}`);
      await jobs.update(id, () => ({ state: "failed", ...base, start_ts: startTs ?? 0n, failed_ts: storage.lastCommitTs() })).catch(() => undefined);
    } finally {
      snapshot?.close();
    }
  }

  private removeExportsBut(keep: string): void {
    for (const name of readdirSync(this.options.directory)) if (name !== keep && name.endsWith(".zip")) rmSync(path.join(this.options.directory, name), { force: true });
  }
}
