/**
 * Snapshot export and import (`npx convex export`, `npx convex import`): the admin routes the CLI
 * calls, as one group for the backend's route table.
 *
 * @example
 * const snapshots = new SnapshotRoutes({ storage, runner, dataDir, deploymentName: "convex-local" });
 * const routes = [...snapshots.routes(), ...otherRoutes];
 */
import path from "node:path";
import type { Storage } from "../../storage/index.js";
import type { FunctionRunner } from "../../runtime/runner.js";
import type { Route } from "../router.js";
import { SnapshotExports } from "./exportRoutes.js";
import { SnapshotImports } from "./importRoutes.js";
import { SnapshotJobs } from "./snapshotJobs.js";

export { latestExport, importById, recentImports } from "./snapshotJobs.js";

export interface SnapshotRoutesOptions {
  storage: Storage;
  runner: FunctionRunner;
  /** The data directory: exports and uploads in progress live in its `snapshots/`. */
  dataDir: string;
  deploymentName: string;
}

/** The data directory's folder of export ZIPs and uploaded imports. */
export const SNAPSHOTS_DIRECTORY = "snapshots";

export class SnapshotRoutes {
  readonly exports: SnapshotExports;
  readonly imports: SnapshotImports;

  constructor({ storage, runner, dataDir, deploymentName }: SnapshotRoutesOptions) {
    const jobs = new SnapshotJobs(storage, runner);
    const directory = path.join(dataDir, SNAPSHOTS_DIRECTORY);
    this.exports = new SnapshotExports({ storage, jobs, blobs: () => runner.fileStorage().blobs, directory: path.join(directory, "exports"), deploymentName });
    this.imports = new SnapshotImports({ storage, runner, jobs, directory: path.join(directory, "imports") });
  }

  /** The routes, all for the admin only. */
  routes(): Route[] {
    return [
      { method: "POST", path: "/api/export/request/zip", access: "admin", handler: (route) => this.exports.request(route) },
      { method: "GET", path: "/api/export/zip/*", access: "admin", handler: (route) => this.exports.download(route) },
      { method: "POST", path: "/api/import/start_upload", access: "admin", handler: (route) => this.imports.startUpload(route) },
      { method: "POST", path: "/api/import/upload_part", access: "admin", handler: (route) => this.imports.uploadPart(route) },
      { method: "POST", path: "/api/import/finish_upload", access: "admin", handler: (route) => this.imports.finishUpload(route) },
      { method: "POST", path: "/api/perform_import", access: "admin", handler: (route) => this.imports.performImport(route) },
      { method: "POST", path: "/api/cancel_import", access: "admin", handler: (route) => this.imports.cancelImport(route) },
    ];
  }

  /** Resolves once running exports and imports have finished (shutdown). */
  async idle(): Promise<void> {
    await Promise.all([this.exports.idle(), this.imports.idle()]);
  }
}
