/**
 * The vector search thread: holds the memory copies of a deployment's vector indexes and runs
 * every `ctx.vectorSearch` of it (vectorSearchThreads.ts starts it), on its own read-only
 * connection to the store, so loading a large index or scanning it never holds the backend's main
 * thread. Each message is one search; the answer carries its results or its error's text.
 */
import { parentPort, workerData } from "node:worker_threads";

import { Storage } from "../storage/index.js";
import { VectorSearchEngine, type VectorQuery, type VectorResult } from "../storage/vectorSearch.js";

export interface VectorSearchRequest {
  id: number;
  query: VectorQuery;
}

export type VectorSearchReply = { id: number; results: VectorResult[] } | { id: number; error: string };

const port = parentPort;
if (port === null) throw new Error("vectorSearchThread.ts runs as a worker thread");
const storage = Storage.openReader((workerData as { path: string }).path);
const engine = new VectorSearchEngine(storage);
port.on("message", ({ id, query }: VectorSearchRequest) => {
  let reply: VectorSearchReply;
  try {
    reply = { id, results: engine.search(query) };
  } catch (e) {
    reply = { id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
