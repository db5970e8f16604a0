/**
 * What a subscription remembers of the result it last sent: a digest to tell whether a re-run
 * changed anything (as Convex's sync worker keeps a result hash, not the result) and the size
 * that counts against its connection's budget. Computed once per result object, so every
 * subscription that shares a run shares one serialization.
 */
import { createHash } from "node:crypto";
import { valueJsonOf } from "../../runtime/functionResults.js";
import type { FunctionResult } from "../../runtime/runner.js";

export interface ResultFingerprint {
  digest: string;
  /** Bytes of the value's JSON (for an error: of its message and data), plus its log lines': all a Transition carries of it. */
  bytes: number;
  /** The JSON of a success's value and of the log lines, as a Transition carries them. */
  valueJson: string;
  logLinesJson: string;
}

const fingerprints = new WeakMap<FunctionResult, ResultFingerprint>();

export function fingerprintOf(result: FunctionResult): ResultFingerprint {
  let fingerprint = fingerprints.get(result);
  if (fingerprint === undefined) {
    const text = result.status === "success" ? valueJsonOf(result) : JSON.stringify([result.errorMessage, result.errorData ?? null]);
    // Log lines travel with the result (QueryUpdated/QueryFailed.logLines), so they count against
    // the budget; they are not in the digest: a re-run that only logs differently sends nothing.
    const logLinesJson = JSON.stringify(result.logLines);
    const bytes = Buffer.byteLength(text) + Buffer.byteLength(logLinesJson);
    fingerprint = { digest: createHash("sha256").update(`${result.status}\n${text}`).digest("base64"), bytes, valueJson: text, logLinesJson };
    fingerprints.set(result, fingerprint);
  }
  return fingerprint;
}
