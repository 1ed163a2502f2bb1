import { createHash, randomBytes } from 'node:crypto';
import { OID_EVIDENCE_ATTRIBUTE } from '../../src/identity/attestation/index.js';
import { EstHttpError } from './est-http-error.js';

/** How long a request answered 202 may come back with the same evidence (a manual approval can take days). */
const PENDING_EVIDENCE_MS = 7 * 24 * 3600_000;

/** Refuses an attested enrolment: 403 with the reason, as both verifiers answer. */
export function refuseAttestation(reason: string): never {
  throw new EstHttpError(403, `attestation refused: ${reason}`);
}

/**
 * What both attestation verifiers (TPM, ATECC608A) keep between requests: the challenges they handed
 * out — each taken once, whatever the outcome, so a nonce is never good twice, and refused once its
 * lifetime is over — and the evidence of requests answered 202, which may come back as the same
 * request (RFC 7030 §4.2.3) without being judged again.
 */
export class AttestationLedger<Challenge extends { expiresAt: number }> {
  readonly #challenges = new Map<string, Challenge>();
  /** Evidence (with its CSR key) answered 202 → until when its repetition is accepted. */
  readonly #pendingEvidence = new Map<string, number>();

  constructor(readonly challengeTtlSeconds = 120) {}

  /** Keeps a new challenge (`make` gets its expiry) under a fresh id. */
  issue(make: (expiresAt: number) => Challenge): { challengeId: Buffer; challenge: Challenge } {
    const now = Date.now();
    for (const [id, kept] of this.#challenges) if (kept.expiresAt < now) this.#challenges.delete(id);
    const challengeId = randomBytes(16);
    const challenge = make(now + this.challengeTtlSeconds * 1000);
    this.#challenges.set(challengeId.toString('hex'), challenge);
    return { challengeId, challenge };
  }

  /** The challenge of `challengeId`, taken; refuses one that is unknown, used or expired. */
  take(challengeId: Uint8Array): Challenge {
    const id = Buffer.from(challengeId).toString('hex');
    const challenge = this.#challenges.get(id);
    this.#challenges.delete(id);
    if (!challenge) refuseAttestation('stale nonce: the challenge is unknown or was already used');
    if (challenge.expiresAt <= Date.now())
      refuseAttestation('stale nonce: the challenge expired before the evidence came');
    return challenge;
  }

  /**
   * The evidence attribute of a CSR whose key is `spki` (`attributeValues`: the DER values of
   * id-aa-evidence), judged by `check` unless it repeats a request answered 202. Returns the token
   * for keepPending(). `what` names the attestation the server requires, for the refusal.
   */
  verify(
    attributeValues: Uint8Array[] | undefined,
    spki: Uint8Array,
    what: string,
    check: (value: Uint8Array) => void,
  ): string {
    const value = attributeValues?.[0];
    if (!value) {
      refuseAttestation(
        `the CSR carries no evidence attribute (${OID_EVIDENCE_ATTRIBUTE}); this server requires ${what}`,
      );
    }
    const token = createHash('sha256').update(value).update(spki).digest('hex');
    // Judged when first sent; its nonce is not good again (new evidence under it is refused by take()).
    if ((this.#pendingEvidence.get(token) ?? 0) > Date.now()) return token;
    check(value);
    return token;
  }

  /** The request of `token` was answered 202: the same request may come back (PENDING_EVIDENCE_MS). */
  keepPending(token: string): void {
    const now = Date.now();
    for (const [kept, until] of this.#pendingEvidence) if (until <= now) this.#pendingEvidence.delete(kept);
    this.#pendingEvidence.set(token, now + PENDING_EVIDENCE_MS);
  }
}
