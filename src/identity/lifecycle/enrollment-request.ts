import { EstError } from '../est/index.js';
import type { EnrollmentRequestRecord } from './identity-records.js';

/** What `gatewayctl identity status` shows of the request the gateway owes the EST server. */
export interface EnrollmentRequestStatus {
  operation: 'simpleenroll' | 'simplereenroll';
  origin: 'automatic' | 'operator';
  /** When the gateway started owing it (the first attempt). */
  since: string;
  /** The CSR sent again after a 202 (null: the next attempt builds one) and where its key is. */
  csr: { createdAt: string; key: string; sent: number } | null;
  nextAttemptAt: string | null;
  /** The server's last answer: HTTP status (null: no answer) and what it said. */
  lastAnswer: { status: number | null; text: string; at: string } | null;
}

export function requestStatus(
  request: EnrollmentRequestRecord,
  nextAttemptAt: Date | undefined,
  keyLocation: (ref: string | undefined) => string,
): EnrollmentRequestStatus {
  return {
    operation: request.operation,
    origin: request.origin,
    since: request.createdAt.toISOString(),
    csr:
      request.csrDer && request.csrCreatedAt
        ? {
            createdAt: request.csrCreatedAt.toISOString(),
            key: keyLocation(request.keyRef),
            sent: request.sent,
          }
        : null,
    nextAttemptAt: nextAttemptAt?.toISOString() ?? null,
    lastAnswer:
      request.lastAnswer !== undefined && request.lastAnswerAt
        ? {
            status: request.lastStatus ?? null,
            text: request.lastAnswer,
            at: request.lastAnswerAt.toISOString(),
          }
        : null,
  };
}

/** The server's answer an error stands for: its HTTP status when there was one, and a short text. */
export function answerOf(error: unknown): { status: number | undefined; text: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EstError) {
    if (error.code === 'EGW_EST_HTTP') return { status: error.status, text: error.bodyExcerpt ?? message };
    // The server answered 200, and the gateway refused what it issued.
    if (error.code === 'EGW_EST_BAD_CERTIFICATE') return { status: 200, text: `refused: ${message}` };
  }
  return { status: undefined, text: message };
}

/**
 * Whether the same CSR is sent again after this failure. A server that is down, slow or busy has not
 * decided (RFC 7030 §4.2.3: repeat the same request); a 4xx or a refused certificate is the server's
 * answer to this request, so the next attempt builds a new one.
 */
export function keepsCsr(error: unknown): boolean {
  if (!(error instanceof EstError)) return true;
  if (error.code === 'EGW_EST_BAD_CERTIFICATE') return false;
  if (error.code === 'EGW_EST_HTTP') return (error.status ?? 0) >= 500 || error.status === 429;
  return true;
}

/** A CSR pending at the server for longer than `limitMs` (0: never) is abandoned. */
export function abandoned(request: EnrollmentRequestRecord, now: Date, limitMs: number): boolean {
  return (
    limitMs > 0 &&
    request.csrCreatedAt !== undefined &&
    now.getTime() - request.csrCreatedAt.getTime() >= limitMs
  );
}
