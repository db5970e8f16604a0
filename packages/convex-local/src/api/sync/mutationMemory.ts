/**
 * The answers to successful mutations, by client session and request id, so that a mutation a
 * client sends again after a reconnect is answered again instead of run twice.
 *
 * As on Convex (which records them in the mutation's own transaction: crates/model/src/
 * session_requests), only successes are kept: a failed mutation committed nothing, so its retry
 * simply runs again. Kept in memory, bounded per session and in total, in answers and in bytes;
 * the least recently active session goes first. An answer too large to keep is not kept, so its
 * retry, in the rare reconnect that races it, runs again.
 *
 * @example
 * const memory = new MutationMemory(DEFAULT_MUTATION_MEMORY_LIMITS);
 * memory.remember(sessionId, requestId, JSON.stringify(response));
 * memory.recall(sessionId, requestId); // the same text, or undefined
 */

export interface MutationMemoryLimits {
  /** Client sessions remembered. */
  maxSessions: number;
  /** Answers remembered per session (the most recent). */
  maxAnswersPerSession: number;
  /** Bytes of answers (as sent) remembered per session. */
  maxBytesPerSession: number;
  /** Bytes of answers remembered in all. */
  maxBytes: number;
}

export const DEFAULT_MUTATION_MEMORY_LIMITS: MutationMemoryLimits = {
  maxSessions: 1_000,
  maxAnswersPerSession: 256,
  maxBytesPerSession: 4 * 1024 * 1024,
  maxBytes: 32 * 1024 * 1024,
};

interface SessionAnswers {
  /** Answer texts by request id, oldest first. */
  answers: Map<number, string>;
  bytes: number;
}

export class MutationMemory {
  /** Least recently active first. */
  private readonly sessions = new Map<string, SessionAnswers>();
  private totalBytes = 0;

  constructor(private readonly limits: MutationMemoryLimits) {}

  /** Bytes of answers held now. */
  get bytes(): number {
    return this.totalBytes;
  }

  recall(sessionId: string, requestId: number): string | undefined {
    return this.sessions.get(sessionId)?.answers.get(requestId);
  }

  /** Keeps the text sent in answer to a successful mutation. */
  remember(sessionId: string, requestId: number, answer: string): void {
    const bytes = Buffer.byteLength(answer);
    if (bytes > this.limits.maxBytesPerSession || bytes > this.limits.maxBytes) return;
    const session = this.sessions.get(sessionId) ?? { answers: new Map<number, string>(), bytes: 0 };
    this.sessions.delete(sessionId); // re-inserted last: the most recently active
    this.sessions.set(sessionId, session);
    this.forget(session, requestId);
    session.answers.set(requestId, answer);
    session.bytes += bytes;
    this.totalBytes += bytes;
    while (session.answers.size > this.limits.maxAnswersPerSession || session.bytes > this.limits.maxBytesPerSession) {
      this.forget(session, session.answers.keys().next().value!);
    }
    while (this.sessions.size > this.limits.maxSessions || this.totalBytes > this.limits.maxBytes) {
      const [oldestId, oldest] = this.sessions.entries().next().value!;
      this.totalBytes -= oldest.bytes;
      this.sessions.delete(oldestId);
    }
  }

  private forget(session: SessionAnswers, requestId: number): void {
    const answer = session.answers.get(requestId);
    if (answer === undefined) return;
    const bytes = Buffer.byteLength(answer);
    session.answers.delete(requestId);
    session.bytes -= bytes;
    this.totalBytes -= bytes;
  }
}
