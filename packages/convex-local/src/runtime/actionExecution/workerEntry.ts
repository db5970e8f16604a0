/**
 * A process of the runtime's own (runtimeProcess.ts) that runs default-runtime actions and HTTP
 * actions, one at a time, for the backend (see executorPool.ts). Its heap is capped by
 * `--max-old-space-size`, its realm is locked down as Convex's default runtime is, and a run past
 * its time limit ends the whole process. It exits by itself when the IPC channel goes (the backend
 * ended).
 */
import { keepRunningOnUnattributedFailures } from "../crashAttribution.js";
import { ActionExecutor } from "./executor.js";
import type { ExecutorMessage, HostMessage } from "./protocol.js";
import { lockDownRealm } from "../realmLockdown.js";

if (process.send === undefined) throw new Error("workerEntry.ts runs as a forked process with an IPC channel");
const send = process.send.bind(process);
// A failure no action's realm owns is printed, as the backend did when actions ran on its thread.
keepRunningOnUnattributedFailures();
const executor = new ActionExecutor((message: ExecutorMessage) => void send(message));
lockDownRealm();
process.on("message", (message: HostMessage) => executor.receive(message));
process.on("disconnect", () => process.exit(0));
send({ type: "ready" } satisfies ExecutorMessage);
