import { createHash } from 'node:crypto';

/** The "202 until approved, per public key" mode (EstFaults.approvePerKey). */
export interface ApprovalPerKey {
  /** The Retry-After of each 202. */
  retryAfterSeconds: number;
  /** Approve a key by itself at its Nth request (1 = the first is issued); absent: only approve(). */
  approveAfterAttempts?: number;
}

/** What the server does with one enrolment request in that mode. */
export type ApprovalDecision =
  | { decision: 'issue'; keySha256: string }
  | { decision: 'pending'; keySha256: string; attempts: number; retryAfterSeconds: number; reason: string };

/**
 * A CA that approves requests per public key, like EST servers in front of a manual or RA approval
 * step: a request for a key not yet approved is answered 202 + Retry-After and remembered; only a
 * request for the SAME key (the SHA-256 of its SubjectPublicKeyInfo) is issued once that key is
 * approved. A CSR for another key is another pending request (RFC 7030 §4.2.3: the client repeats
 * the same request).
 */
export class KeyApprovals {
  readonly #requests = new Map<string, { attempts: number; approved: boolean }>();

  /** Called for every verified CSR; `mode` undefined: the mode is off, everything is issued. */
  decide(spki: Uint8Array, mode: ApprovalPerKey | undefined): ApprovalDecision {
    const keySha256 = spkiSha256(spki);
    if (!mode) return { decision: 'issue', keySha256 };
    const request = this.#requests.get(keySha256) ?? { attempts: 0, approved: false };
    request.attempts += 1;
    this.#requests.set(keySha256, request);
    if (mode.approveAfterAttempts !== undefined && request.attempts >= mode.approveAfterAttempts) {
      request.approved = true;
    }
    if (request.approved) return { decision: 'issue', keySha256 };
    return {
      decision: 'pending',
      keySha256,
      attempts: request.attempts,
      retryAfterSeconds: mode.retryAfterSeconds,
      reason: `request for public key sha256:${keySha256.slice(0, 16)} pending approval (request ${request.attempts}): retry after ${mode.retryAfterSeconds} s`,
    };
  }

  /** Approves a key: its SubjectPublicKeyInfo DER, or the SHA-256 hex of it. */
  approve(key: Uint8Array | string): string {
    const keySha256 = typeof key === 'string' ? key.toLowerCase() : spkiSha256(key);
    const request = this.#requests.get(keySha256) ?? { attempts: 0, approved: false };
    request.approved = true;
    this.#requests.set(keySha256, request);
    return keySha256;
  }

  /** The keys (SHA-256 hex of the SPKI) with a request waiting for approval, oldest first. */
  waiting(): string[] {
    return [...this.#requests].filter(([, request]) => !request.approved).map(([key]) => key);
  }
}

export function spkiSha256(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
}
