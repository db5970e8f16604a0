/**
 * A worker thread that runs default-runtime actions and HTTP actions, one at a time, for the
 * backend's main thread (see executorPool.ts). Its heap is capped by the worker's `resourceLimits`
 * and a run past its time limit ends the whole thread (`worker.terminate()`).
 */
import { parentPort } from "node:worker_threads";
import { keepRunningOnUnattributedFailures } from "../crashAttribution.js";
import { ActionExecutor } from "./executor.js";
import type { ExecutorMessage, HostMessage } from "./protocol.js";
import { lockDownThreadRealm } from "../realmLockdown.js";

if (parentPort === null) throw new Error("workerEntry.ts runs as a worker thread");
const port = parentPort;
// A failure no action's realm owns is printed, as the backend did when actions ran on its thread.
keepRunningOnUnattributedFailures();
const executor = new ActionExecutor((message: ExecutorMessage) => port.postMessage(message));
lockDownThreadRealm();
port.on("message", (message: HostMessage) => executor.receive(message));
port.postMessage({ type: "ready" } satisfies ExecutorMessage);
