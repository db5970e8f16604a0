/**
 * One vector search thread (vectorSearchThread.ts) per store, started on the first search: the
 * action host's `ctx.vectorSearch` awaits it instead of searching on the main thread. A thread
 * that dies fails the searches it held and is started again by the next one; `closeVectorSearch`
 * ends it with its store (the backend's close).
 *
 * ```ts
 * const results = await searchVectors(storage, query);
 * await closeVectorSearch(storage);
 * ```
 */
import { Worker } from "node:worker_threads";

import type { Storage } from "../storage/index.js";
import { VectorSearchEngine, type VectorQuery, type VectorResult } from "../storage/vectorSearch.js";
import { threadEntry } from "./threadEntry.js";
import type { VectorSearchReply, VectorSearchRequest } from "./vectorSearchThread.js";

const entry = threadEntry(new URL("./vectorSearchThread.js", import.meta.url));

class VectorSearchThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (results: VectorResult[]) => void; reject: (error: Error) => void }>();

  constructor(private readonly path: string) {}

  private start(): Worker {
    const worker = new Worker(entry.url, { execArgv: entry.execArgv, workerData: { path: this.path } });
    // Searches in flight are the backend's own requests: the thread alone never keeps the process up.
    worker.unref();
    worker.on("message", (reply: VectorSearchReply) => {
      const waiting = this.pending.get(reply.id);
      if (waiting === undefined) return;
      this.pending.delete(reply.id);
      if ("error" in reply) waiting.reject(new Error(reply.error));
      else waiting.resolve(reply.results);
    });
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const waiting of this.pending.values()) waiting.reject(new Error(`Vector search failed: ${error.message}`));
      this.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the vector search thread exited with code ${code}`)));
    return worker;
  }

  search(query: VectorQuery): Promise<VectorResult[]> {
    this.worker ??= this.start();
    const id = this.nextId++;
    const request: VectorSearchRequest = { id, query };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    for (const waiting of this.pending.values()) waiting.reject(new Error("Vector search stopped: the backend is closing"));
    this.pending.clear();
    if (worker !== null) await worker.terminate();
  }
}

const threads = new WeakMap<Storage, VectorSearchThread>();
/** Stores without a file (":memory:") are searched on the calling thread. */
const inThread = new WeakMap<Storage, VectorSearchEngine>();

/** Runs a search as of the store's latest commit (VectorSearchEngine.search, in the store's thread). */
export async function searchVectors(storage: Storage, query: VectorQuery): Promise<VectorResult[]> {
  if (storage.path === ":memory:" || storage.path === "") {
    let engine = inThread.get(storage);
    if (engine === undefined) inThread.set(storage, (engine = new VectorSearchEngine(storage)));
    return engine.search(query);
  }
  let thread = threads.get(storage);
  if (thread === undefined) threads.set(storage, (thread = new VectorSearchThread(storage.path)));
  return await thread.search(query);
}

/** Ends the store's vector search thread (its memory copies go with it). */
export async function closeVectorSearch(storage: Storage): Promise<void> {
  await threads.get(storage)?.close();
  threads.delete(storage);
}
