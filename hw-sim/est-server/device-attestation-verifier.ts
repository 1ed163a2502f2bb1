import { X509Certificate as NodeX509, randomBytes, verify } from 'node:crypto';
import {
  type DeviceEvidenceStatement,
  decodeDeviceEvidenceBundles,
  deviceSignedMessage,
  encodeNonceChallenge,
} from '../../src/identity/attestation/index.js';
import { DER_TAG, pemBlocks, strictChildren, strictSingle } from '../../src/pki/index.js';
import { AttestationLedger, refuseAttestation as refuse } from './attestation-ledger.js';
import { EstHttpError } from './est-http-error.js';

/** What the server requires of an ATECC608A-attested enrolment (EstServerOptions.deviceAttestation). */
export interface DeviceAttestationPolicy {
  /** PEM of the secure-element manufacturer's root(s): device certificates chain to one via their signer. */
  manufacturerCaPem: string[];
  /** How long a nonce may be answered. Default 120 s. */
  challengeTtlSeconds?: number;
}

/**
 * The verifier of ATECC608A attestation (src/identity/attestation/device-certificate-evidence.ts):
 * hands out plain nonces at /attest-challenge and checks a CSR's evidence: the nonce is known,
 * unexpired and unused (each is taken once); the device certificate was issued by the signer
 * certificate, which chains to a configured manufacturer root, all valid now; the device key's
 * signature covers that nonce and the CSR's SubjectPublicKeyInfo. Each refusal says which.
 * Same interface as AttestationVerifier (the TPM one), so the server holds either.
 */
export class DeviceAttestationVerifier {
  readonly #ledger: AttestationLedger<{ nonce: Buffer; expiresAt: number }>;
  readonly #anchors: NodeX509[];

  constructor(readonly policy: DeviceAttestationPolicy) {
    this.#ledger = new AttestationLedger(policy.challengeTtlSeconds);
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
    const nonce = randomBytes(32);
    const { challengeId } = this.#ledger.issue((expiresAt) => ({ nonce, expiresAt }));
    return encodeNonceChallenge({ challengeId, nonce });
  }

  /** The evidence of a CSR whose key is `spki`, checked; throws 403 with the reason. Returns a keepPending() token. */
  verify(attributeValues: Uint8Array[] | undefined, spki: Uint8Array): string {
    return this.#ledger.verify(attributeValues, spki, 'ATECC608A attestation', (value) =>
      this.#check(value, spki),
    );
  }

  /** The request of `token` was answered 202: the same request may come back. */
  keepPending(token: string): void {
    this.#ledger.keepPending(token);
  }

  #check(value: Uint8Array, spki: Uint8Array): void {
    let evidence: DeviceEvidenceStatement;
    try {
      evidence = decodeDeviceEvidenceBundles(value);
    } catch (error) {
      refuse(`unreadable evidence: ${(error as Error).message}`);
    }
    const challenge = this.#ledger.take(evidence.challengeId);
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
