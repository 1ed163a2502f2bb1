import { createHash, X509Certificate as NodeX509, randomBytes, verify } from 'node:crypto';
import {
  type DeviceEvidenceStatement,
  decodeDeviceEvidenceBundles,
  deviceSignedMessage,
  encodeNonceChallenge,
  OID_EVIDENCE_ATTRIBUTE,
} from '../../src/identity/attestation/index.js';
import { DER_TAG, pemBlocks, strictChildren, strictSingle } from '../../src/pki/index.js';
import { EstHttpError } from './est-http-error.js';

/** What the server requires of an ATECC608A-attested enrolment (EstServerOptions.deviceAttestation). */
export interface DeviceAttestationPolicy {
  /** PEM of the secure-element manufacturer's root(s): device certificates chain to one via their signer. */
  manufacturerCaPem: string[];
  /** How long a nonce may be answered. Default 120 s. */
  challengeTtlSeconds?: number;
}

/** How long a request answered 202 may come back with the same evidence (as attestation-verifier.ts). */
const PENDING_EVIDENCE_MS = 7 * 24 * 3600_000;

/**
 * The verifier of ATECC608A attestation (src/identity/attestation/device-certificate-evidence.ts):
 * hands out plain nonces at /attest-challenge and checks a CSR's evidence: the nonce is known,
 * unexpired and unused (each is taken once); the device certificate was issued by the signer
 * certificate, which chains to a configured manufacturer root, all valid now; the device key's
 * signature covers that nonce and the CSR's SubjectPublicKeyInfo. Each refusal says which.
 * Same interface as AttestationVerifier (the TPM one), so the server holds either.
 */
export class DeviceAttestationVerifier {
  readonly #challenges = new Map<string, { nonce: Buffer; expiresAt: number }>();
  readonly #pendingEvidence = new Map<string, number>();
  readonly #anchors: NodeX509[];

  constructor(readonly policy: DeviceAttestationPolicy) {
    this.#anchors = policy.manufacturerCaPem.flatMap((pem) => pemBlocks(pem).map((der) => new NodeX509(der)));
  }

  /** /attest-challenge: an empty SEQUENCE → SEQUENCE { challengeId, nonce }. */
  challenge(body: Uint8Array): Uint8Array {
    let empty = false;
    try {
      empty = strictChildren(strictSingle(body, DER_TAG.sequence).value).length === 0;
    } catch {
      empty = false;
    }
    if (!empty) {
      throw new EstHttpError(
        400,
        'attestation challenge request: this server verifies ATECC608A evidence and expects an empty SEQUENCE',
      );
    }
    const now = Date.now();
    for (const [id, kept] of this.#challenges) if (kept.expiresAt < now) this.#challenges.delete(id);
    const challengeId = randomBytes(16);
    const nonce = randomBytes(32);
    this.#challenges.set(challengeId.toString('hex'), {
      nonce,
      expiresAt: now + (this.policy.challengeTtlSeconds ?? 120) * 1000,
    });
    return encodeNonceChallenge({ challengeId, nonce });
  }

  /** The evidence of a CSR whose key is `spki`, checked; throws 403 with the reason. Returns a keepPending() token. */
  verify(attributeValues: Uint8Array[] | undefined, spki: Uint8Array): string {
    const value = attributeValues?.[0];
    if (!value) {
      refuse(
        `the CSR carries no evidence attribute (${OID_EVIDENCE_ATTRIBUTE}); this server requires ATECC608A attestation`,
      );
    }
    const token = createHash('sha256').update(value).update(spki).digest('hex');
    // RFC 7030 §4.2.3: after a 202 the client repeats the same request, judged when first sent.
    if ((this.#pendingEvidence.get(token) ?? 0) > Date.now()) return token;
    this.#check(value, spki);
    return token;
  }

  keepPending(token: string): void {
    const now = Date.now();
    for (const [kept, until] of this.#pendingEvidence) if (until <= now) this.#pendingEvidence.delete(kept);
    this.#pendingEvidence.set(token, now + PENDING_EVIDENCE_MS);
  }

  #check(value: Uint8Array, spki: Uint8Array): void {
    let evidence: DeviceEvidenceStatement;
    try {
      evidence = decodeDeviceEvidenceBundles(value);
    } catch (error) {
      refuse(`unreadable evidence: ${(error as Error).message}`);
    }
    const id = Buffer.from(evidence.challengeId).toString('hex');
    const challenge = this.#challenges.get(id);
    // Taken once, whatever the outcome: a nonce is never good twice.
    this.#challenges.delete(id);
    if (!challenge) refuse('stale nonce: the challenge is unknown or was already used');
    if (challenge.expiresAt <= Date.now())
      refuse('stale nonce: the challenge expired before the evidence came');
    const device = this.#trustedDevice(evidence);
    let valid = false;
    try {
      valid = verify(
        'sha256',
        deviceSignedMessage(challenge.nonce, spki),
        { key: device.publicKey, dsaEncoding: 'ieee-p1363' },
        evidence.signature,
      );
    } catch {
      valid = false;
    }
    if (!valid) {
      refuse(
        "the device signature does not verify over the nonce and the CSR's key: evidence for another key, or not by the certified device key",
      );
    }
  }

  /** The device certificate, issued by the signer certificate that chains to a manufacturer root; else 403. */
  #trustedDevice(evidence: DeviceEvidenceStatement): NodeX509 {
    let device: NodeX509;
    let signer: NodeX509;
    try {
      device = new NodeX509(evidence.deviceCertificate);
      signer = new NodeX509(evidence.signerCertificate);
    } catch (error) {
      refuse(`the device or signer certificate cannot be read: ${(error as Error).message}`);
    }
    const now = Date.now();
    const validNow = (c: NodeX509) => Date.parse(c.validFrom) <= now && Date.parse(c.validTo) >= now;
    if (!signer.ca) refuse('the signer certificate is not a CA certificate');
    if (!(device.checkIssued(signer) && device.verify(signer.publicKey))) {
      refuse('the device certificate was not issued by the signer certificate given with it');
    }
    let current = signer;
    for (let depth = 0; depth < 4; depth++) {
      if (!validNow(current) || !validNow(device)) {
        refuse(`device certificate chain: ${current.subject.replace(/\n/g, ', ')} is not valid now`);
      }
      if (this.#anchors.some((anchor) => anchor.fingerprint256 === current.fingerprint256)) return device;
      const issuer = this.#anchors.find(
        (anchor) => current.checkIssued(anchor) && current.verify(anchor.publicKey),
      );
      if (!issuer) break;
      current = issuer;
    }
    refuse(
      `the device certificate (signer ${signer.subject.replace(/\n/g, ', ')}) does not chain to a trusted manufacturer root`,
    );
  }
}

function refuse(reason: string): never {
  throw new EstHttpError(403, `attestation refused: ${reason}`);
}
