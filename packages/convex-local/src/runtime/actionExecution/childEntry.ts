/**
 * A forked Node process that runs `"use node"` actions, one at a time, for the backend (see
 * executorPool.ts), as Convex runs them in a Node executor process of their own. Node's heap is
 * capped by `--max-old-space-size`; the backend SIGKILLs it at the time limit or when it closes,
 * and it exits by itself when the IPC channel goes (the backend ended).
 *
 * As in Convex's Node executor (npm-packages/node-executor/src/executor.ts), any uncaught exception
 * or unhandled rejection in the process while an action runs fails that action with the event's
 * name (`Uncaught uncaughtException: …`) and the process is replaced; between actions one ends it.
 */
import { inNodeExecutorProcess } from "../crashAttribution.js";
import { ActionExecutor } from "./executor.js";
import type { ExecutorMessage, HostMessage } from "./protocol.js";

if (process.send === undefined) throw new Error("childEntry.ts runs as a forked process with an IPC channel");
const send = process.send.bind(process);
const executor = new ActionExecutor((message: ExecutorMessage) => void send(message));
process.on("message", (message: HostMessage) => executor.receive(message));
process.on("disconnect", () => process.exit(0));
inNodeExecutorProcess((kind, failure) => {
  if (executor.crashed(kind, failure)) return;
  console.error(`convex-local: ${kind} in a Node action executor between actions; it exits and is replaced`);
  process.exit(1);
});
send({ type: "ready" } satisfies ExecutorMessage);
