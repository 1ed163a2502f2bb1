import { createHash, createPublicKey, X509Certificate as NodeX509, randomBytes, verify } from 'node:crypto';
import {
  decodeChallengeRequest,
  decodeEvidenceBundles,
  encodeChallengeAnswer,
  type TpmEvidenceStatement,
} from '../../src/identity/attestation/index.js';
import { p256Spki, p1363Signature } from '../../src/keys/tpm/p256.js';
import { encodePcrSelection, parsePcrSelection } from '../../src/keys/tpm/pcr-selection.js';
import { TPM2_ALG, TPM2_ECC_NIST_P256, TPMA_OBJECT } from '../../src/native/tss2/constants.js';
import { decodeEccSignature, decodePublic, type PublicArea } from '../../src/native/tss2/structures.js';
import { pemBlocks, sameBytes } from '../../src/pki/index.js';
import { AttestationLedger, refuseAttestation as refuse } from './attestation-ledger.js';
import { EstHttpError } from './est-http-error.js';
import { readAttest, TPM2_ST_ATTEST_CERTIFY, TPM2_ST_ATTEST_QUOTE } from './tpm-attest-reader.js';
import { makeCredential, tpmName } from './tpm-make-credential.js';

/** What the server requires of an attested enrolment (EstServerOptions.attestation). */
export interface AttestationPolicy {
  /** PEM of the TPM manufacturers' CAs (roots and intermediates) EK certificates must chain to. */
  manufacturerCaPem: string[];
  /** The PCRs the quote must cover, e.g. "sha256:0,1,2,3,4,5,6,7". */
  pcrSelection: string;
  /** The expected value (hex) of each PCR of the selection, by index: the "golden" measurements. */
  pcrValues: Record<number, string>;
  /** How long a challenge (nonce) may be answered. Default 120 s. */
  challengeTtlSeconds?: number;
}

interface Challenge {
  nonce: Buffer;
  akName: Uint8Array;
  ekFingerprint: string;
  expiresAt: number;
}

/** The attributes a key that never leaves its TPM and was born in it has. */
const RESIDENT = TPMA_OBJECT.FIXED_TPM | TPMA_OBJECT.FIXED_PARENT | TPMA_OBJECT.SENSITIVE_DATA_ORIGIN;

/**
 * The verifier of attested enrolment (see src/identity/attestation/): hands out challenges (a nonce
 * encrypted to the EK for the AK, by TPM2_MakeCredential) and checks the evidence of a CSR against
 * the policy: the EK certificate chains to a manufacturer CA; the AK is a restricted signing key
 * resident in a TPM; the challenge is known, unexpired and unused (each is taken once); the quote and
 * the certify are signed by that AK and carry the challenge's nonce, which only the TPM holding both
 * that EK and that AK could recover; the certified key is the CSR's key and resident in the TPM; the
 * quote covers the policy's PCRs and their digest is the expected one. Each refusal says which.
 */
export class AttestationVerifier {
  readonly #ledger: AttestationLedger<Challenge>;
  readonly #anchors: NodeX509[];
  readonly #expectedSelection: Uint8Array;
  readonly #expectedDigest: Buffer;

  constructor(readonly policy: AttestationPolicy) {
    this.#ledger = new AttestationLedger(policy.challengeTtlSeconds);
    this.#anchors = policy.manufacturerCaPem.flatMap((pem) => pemBlocks(pem).map((der) => new NodeX509(der)));
    const selection = parsePcrSelection(policy.pcrSelection);
    this.#expectedSelection = encodePcrSelection(selection);
    const digest = createHash('sha256');
    for (const pcr of selection.pcrs) {
      const value = policy.pcrValues[pcr];
      if (value === undefined) throw new Error(`the attestation policy has no value for PCR ${pcr}`);
      digest.update(Buffer.from(value, 'hex'));
    }
    this.#expectedDigest = digest.digest();
  }

  /** /attest-challenge: the request body (DER ChallengeRequest) → the answer (DER ChallengeAnswer). */
  challenge(body: Uint8Array): Uint8Array {
    let request: ReturnType<typeof decodeChallengeRequest>;
    try {
      request = decodeChallengeRequest(body);
    } catch (error) {
      throw new EstHttpError(400, `attestation challenge request: ${(error as Error).message}`);
    }
    const ek = this.#trustedEk(request.ekCertificate);
    checkAk(request.akPublic);
    const nonce = randomBytes(32);
    const akName = tpmName(request.akPublic);
    const { credentialBlob, secret } = makeCredential(ek.publicKey, akName, nonce);
    const { challengeId } = this.#ledger.issue((expiresAt) => ({
      nonce,
      akName,
      ekFingerprint: ek.fingerprint256,
      expiresAt,
    }));
    return encodeChallengeAnswer({ challengeId, credentialBlob, secret });
  }

  /**
   * The evidence attribute of a CSR whose SubjectPublicKeyInfo is `spki`, checked; throws
   * EstHttpError 403 with the reason. `attributeValues` are the DER values of id-aa-evidence.
   * Returns a token for keepPending().
   */
  verify(attributeValues: Uint8Array[] | undefined, spki: Uint8Array): string {
    return this.#ledger.verify(attributeValues, spki, 'TPM attestation', (value) => this.#check(value, spki));
  }

  /** The request of `token` was answered 202: the same request may come back. */
  keepPending(token: string): void {
    this.#ledger.keepPending(token);
  }

  #check(value: Uint8Array, spki: Uint8Array): void {
    let evidence: TpmEvidenceStatement;
    try {
      evidence = decodeEvidenceBundles(value);
    } catch (error) {
      refuse(`unreadable evidence: ${(error as Error).message}`);
    }
    const challenge = this.#ledger.take(evidence.challengeId);
    const ek = this.#trustedEk(evidence.ekCertificate);
    if (ek.fingerprint256 !== challenge.ekFingerprint)
      refuse('the EK certificate differs from the one challenged');
    if (!sameBytes(tpmName(evidence.akPublic), challenge.akName))
      refuse('the AK differs from the one challenged');
    const akKey = createPublicKey({
      key: Buffer.from(spkiOf(checkAk(evidence.akPublic))),
      format: 'der',
      type: 'spki',
    });

    const certify = signedAttest(evidence.certifyInfo, evidence.certifySignature, akKey, 'TPM2_Certify');
    if (certify.type !== TPM2_ST_ATTEST_CERTIFY)
      refuse('the certify evidence is not a TPM2_Certify structure');
    const quote = signedAttest(evidence.quoteInfo, evidence.quoteSignature, akKey, 'TPM2_Quote');
    if (quote.type !== TPM2_ST_ATTEST_QUOTE) refuse('the quote evidence is not a TPM2_Quote structure');
    if (!sameBytes(certify.extraData, challenge.nonce) || !sameBytes(quote.extraData, challenge.nonce)) {
      refuse(
        'AK not certified by the EK: the evidence does not carry the challenge nonce, which only the TPM holding that EK recovers for that AK (TPM2_ActivateCredential)',
      );
    }

    const key = decodePublic(evidence.keyPublic);
    if (!sameBytes(certify.certifiedName as Uint8Array, tpmName(evidence.keyPublic))) {
      refuse('TPM2_Certify names another key than the identity key public area given');
    }
    if ((key.attributes & RESIDENT) !== RESIDENT) {
      refuse(
        'the identity key is not fixedTPM, fixedParent and sensitiveDataOrigin: it may exist outside the TPM',
      );
    }
    if (!key.ecc || !sameBytes(spkiOf(key), spki)) {
      refuse("identity key outside the attested TPM: the key TPM2_Certify vouches for is not the CSR's key");
    }

    if (!sameBytes(quote.pcrSelect as Uint8Array, this.#expectedSelection)) {
      refuse(`the quote does not cover the policy's PCRs (${this.policy.pcrSelection})`);
    }
    if (!sameBytes(quote.pcrDigest as Uint8Array, this.#expectedDigest)) {
      refuse(
        `PCR digest mismatch: PCRs ${this.policy.pcrSelection} do not hold the policy's expected values`,
      );
    }
  }

  /** The EK certificate, chained to a manufacturer CA and valid now; else 403 with why. */
  #trustedEk(der: Uint8Array): NodeX509 {
    let ek: NodeX509;
    try {
      ek = new NodeX509(der);
    } catch (error) {
      refuse(`the EK certificate cannot be read: ${(error as Error).message}`);
    }
    const now = Date.now();
    let current = ek;
    for (let depth = 0; depth < 5; depth++) {
      if (Date.parse(current.validTo) < now || Date.parse(current.validFrom) > now) {
        refuse(`EK certificate chain: ${current.subject.replace(/\n/g, ', ')} is not valid now`);
      }
      const issuer = this.#anchors.find(
        (anchor) => current.checkIssued(anchor) && current.verify(anchor.publicKey),
      );
      if (!issuer) break;
      if (issuer.checkIssued(issuer)) return ek;
      current = issuer;
    }
    refuse(
      `the EK certificate (issuer ${ek.issuer.replace(/\n/g, ', ')}) does not chain to a trusted TPM manufacturer CA`,
    );
  }
}

/** An ECC P-256 restricted signing key, resident in its TPM: what an AK must be. */
function checkAk(publicWire: Uint8Array): PublicArea {
  let area: PublicArea;
  try {
    area = decodePublic(publicWire);
  } catch (error) {
    refuse(`the AK public area cannot be read: ${(error as Error).message}`);
  }
  const wanted = RESIDENT | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.SIGN_ENCRYPT;
  if (
    area.type !== TPM2_ALG.ECC ||
    area.ecc?.curve !== TPM2_ECC_NIST_P256 ||
    (area.attributes & wanted) !== wanted ||
    area.attributes & TPMA_OBJECT.DECRYPT
  ) {
    refuse('the AK is not a restricted ECC P-256 signing key resident in its TPM');
  }
  return area;
}

function spkiOf(area: PublicArea): Uint8Array {
  if (!area.ecc) throw new Error('not an ECC key');
  return p256Spki(area.ecc.x, area.ecc.y);
}

/** TPMS_ATTEST signed by the AK (ECDSA over its SHA-256), parsed; else 403. */
function signedAttest(
  attest: Uint8Array,
  signatureWire: Uint8Array,
  ak: ReturnType<typeof createPublicKey>,
  what: string,
) {
  let valid = false;
  try {
    const signature = decodeEccSignature(signatureWire);
    valid = verify(
      'sha256',
      attest,
      { key: ak, dsaEncoding: 'ieee-p1363' },
      p1363Signature(signature.r, signature.s),
    );
  } catch {
    valid = false;
  }
  if (!valid) refuse(`the ${what} signature does not verify with the AK`);
  try {
    return readAttest(attest);
  } catch (error) {
    refuse(`the ${what} structure cannot be read: ${(error as Error).message}`);
  }
}
