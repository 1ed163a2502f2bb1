import { randomBytes } from 'node:crypto';
import { challengeSignatureProblem } from './challenge-signature.js';

export interface IssuedChallenge {
  /** 32 random bytes, base64url: the sensor signs the decoded bytes. */
  nonce: string;
  expiresAt: Date;
}

export type ChallengeVerdict = { ok: true } | { ok: false; refusal: string };

interface Outstanding {
  sensorSha256: string;
  expiresAt: number;
}

const NONCE_BYTES = 32;
const NONCE_FORM = /^[A-Za-z0-9_-]{43}$/;

/**
 * Application-level proof of possession, as the seeds' DeviceAuthenticator: the gateway issues a
 * nonce to one sensor, the sensor signs it with its certificate's key, the gateway checks it once.
 * Memory stays bounded: expired nonces are dropped as new ones are issued, a sensor holds at most
 * `maxPerSensor` (its oldest goes first) and all sensors together at most `maxOutstanding`.
 */
export class ChallengeVerifier {
  readonly #lifetimeMs: number;
  readonly #maxOutstanding: number;
  readonly #maxPerSensor: number;
  // Insertion order is issue order, so the oldest (and first to expire) come first.
  readonly #outstanding = new Map<string, Outstanding>();
  readonly #bySensor = new Map<string, string[]>();

  constructor(options: { lifetimeS: number; maxOutstanding?: number; maxPerSensor?: number }) {
    this.#lifetimeMs = options.lifetimeS * 1000;
    this.#maxOutstanding = options.maxOutstanding ?? 10_000;
    this.#maxPerSensor = options.maxPerSensor ?? 4;
  }

  /** How many nonces are waiting for their signature. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  issue(sensorSha256: string, at = new Date()): IssuedChallenge {
    this.#evictExpired(at.getTime());
    for (let mine = this.#bySensor.get(sensorSha256); mine && mine.length >= this.#maxPerSensor; ) {
      this.#forget(mine[0] ?? '');
      mine = this.#bySensor.get(sensorSha256);
    }
    while (this.#outstanding.size >= this.#maxOutstanding) {
      const oldest = this.#outstanding.keys().next();
      if (oldest.done) break;
      this.#forget(oldest.value);
    }
    const nonce = randomBytes(NONCE_BYTES).toString('base64url');
    const expiresAt = at.getTime() + this.#lifetimeMs;
    this.#outstanding.set(nonce, { sensorSha256, expiresAt });
    this.#bySensor.set(sensorSha256, [...(this.#bySensor.get(sensorSha256) ?? []), nonce]);
    return { nonce, expiresAt: new Date(expiresAt) };
  }

  /**
   * Checks the sensor's signature over the nonce's bytes with the key of its certificate (SPKI DER).
   * A nonce is good for one attempt, successful or not, by the sensor it was issued to.
   */
  verify(
    sensorSha256: string,
    nonce: string,
    signature: Uint8Array,
    spkiDer: Uint8Array,
    at = new Date(),
  ): ChallengeVerdict {
    const entry = NONCE_FORM.test(nonce) ? this.#outstanding.get(nonce) : undefined;
    if (!entry) return { ok: false, refusal: 'unknown or already used challenge nonce' };
    // Not consumed: a sensor must not be able to burn another sensor's challenge.
    if (entry.sensorSha256 !== sensorSha256) {
      return { ok: false, refusal: 'the challenge nonce was issued to another sensor' };
    }
    this.#forget(nonce);
    if (at.getTime() > entry.expiresAt) {
      return {
        ok: false,
        refusal: `the challenge nonce expired at ${new Date(entry.expiresAt).toISOString()}`,
      };
    }
    const problem = challengeSignatureProblem(Buffer.from(nonce, 'base64url'), signature, spkiDer);
    return problem ? { ok: false, refusal: problem } : { ok: true };
  }

  #evictExpired(now: number): void {
    for (const [nonce, entry] of this.#outstanding) {
      if (entry.expiresAt >= now) break;
      this.#forget(nonce);
    }
  }

  #forget(nonce: string): void {
    const entry = this.#outstanding.get(nonce);
    if (!entry) return;
    this.#outstanding.delete(nonce);
    const remaining = (this.#bySensor.get(entry.sensorSha256) ?? []).filter((other) => other !== nonce);
    if (remaining.length > 0) this.#bySensor.set(entry.sensorSha256, remaining);
    else this.#bySensor.delete(entry.sensorSha256);
  }
}
