/**
 * `log.audit(body)` of `convex/server` (syscall `1.0/auditLog`, convex 1.46+): Convex accepts it in
 * queries and mutations (crates/isolate/src/environment/udf/async_syscall.rs `audit_log`), refuses
 * it in actions (action/async_syscall.rs: "Audit logging is not yet supported in actions"), and after
 * the function resolves each line's `{ $var: name }` sentinels (requestId, ip, userAgent, now,
 * convexActor) and sends the lines to the deployment's log streams
 * (crates/application/src/audit_logging.rs), never to the function logs. convex-local has no log
 * streams, as a self-hosted backend without one configured: the lines are checked against Convex's
 * limits (crates/common/src/audit_log_lines.rs, knobs.rs AUDIT_LOG_*) and then dropped. Convex checks
 * them once the function has returned and fails the request; convex-local checks each line as it is
 * written, so the function's `log.audit` call throws the same text.
 *
 * @example
 * const lines = new AuditLogLines();
 * lines.add({ body: { action: "login", ip: { $var: "ip" } }, version: "1.48.0" }); // ok
 * lines.add({ body: { who: { $var: "nobody" } } }); // throws: Unknown audit log variable: "nobody"
 */

/** knobs.rs: AUDIT_LOG_MAX_LINES, AUDIT_LOG_MAX_LINE_SIZE_BYTES, AUDIT_LOG_MAX_TOTAL_SIZE_BYTES. */
const MAX_LINES = 500;
const MAX_LINE_BYTES = 100_000;
const MAX_TOTAL_BYTES = 4_000_000;
/** The most bytes one resolved variable may take in JSON (`AuditLogVars::MAX_VAR_LENGTH`). */
const MAX_VAR_BYTES = 1026;

const VARIABLES = new Set(["requestId", "ip", "userAgent", "now", "convexActor"]);

/** Convex's refusal of audit logging in an action or HTTP action. */
export function auditLogInAction(): Error {
  return new Error("Audit logging is not yet supported in actions");
}

/** The audit log lines of one query or mutation (and the calls it makes): how many, and their largest possible size. */
export class AuditLogLines {
  private lines = 0;
  private totalMaxBytes = 0;

  /** Checks one `1.0/auditLog` call's arguments against Convex's rules and limits; throws Convex's error text. */
  add(args: unknown): void {
    if (typeof args !== "object" || args === null || !("body" in args)) {
      throw new Error("Invalid arguments for `auditLog`: missing field `body`");
    }
    const { body } = args as { body: unknown };
    const maxBytes = Buffer.byteLength(JSON.stringify(body) ?? "null") + variablesIn(body) * MAX_VAR_BYTES;
    if (maxBytes > MAX_LINE_BYTES) {
      throw new Error(`An audit log line may have a maximum possible size of ${MAX_LINE_BYTES} bytes, but this line could be up to ${maxBytes} bytes.`);
    }
    if (this.lines + 1 > MAX_LINES) throw new Error(`Function execution exceeded the maximum of ${MAX_LINES} audit log lines.`);
    if (this.totalMaxBytes + maxBytes > MAX_TOTAL_BYTES) {
      throw new Error(
        `The total maximum possible size of audit log lines from a single function execution is ${MAX_TOTAL_BYTES} bytes, but this execution could produce up to ${this.totalMaxBytes + maxBytes} bytes.`,
      );
    }
    this.lines += 1;
    this.totalMaxBytes += maxBytes;
  }
}

/** How many `{ $var: name }` sentinels `value` holds; throws Convex's error for an unknown name. */
function variablesIn(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + variablesIn(item), 0);
  if (typeof value !== "object" || value === null) return 0;
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0][0] === "$var" && typeof entries[0][1] === "string") {
    const name = entries[0][1];
    if (!VARIABLES.has(name)) throw new Error(`Unknown audit log variable: ${JSON.stringify(name)}`);
    return 1;
  }
  return entries.reduce((sum, [, item]) => sum + variablesIn(item), 0);
}
