/**
 * Hardware attestation at enrolment, as the key store offers it (TPM backend only for now).
 *
 * Two steps, because the verifier's challenge depends on the first answer:
 *  1. `identify`: the EK certificate (from the TPM's NV) and the attestation key's public area;
 *     the verifier encrypts a fresh nonce to that EK for that AK (TPM2_MakeCredential).
 *  2. `evidence`: the TPM recovers the nonce (TPM2_ActivateCredential, possible only in the TPM that
 *     holds both the EK and the AK) and uses it as qualifying data of TPM2_Certify (the identity key,
 *     by the AK) and TPM2_Quote (the configured PCRs, by the AK).
 */

export interface AttestationIdentity {
  /** DER of the EK certificate read from the TPM. */
  ekCertificate: Uint8Array;
  /** TPM2B_PUBLIC of the attestation key. */
  akPublic: Uint8Array;
}

export interface AttestationChallenge {
  /** TPM2B_ID_OBJECT from the verifier's MakeCredential. */
  credentialBlob: Uint8Array;
  /** TPM2B_ENCRYPTED_SECRET from the verifier's MakeCredential. */
  secret: Uint8Array;
  /** The PCRs to quote, e.g. "sha256:0,1,2,3,4,5,6,7". */
  pcrSelection: string;
}

export interface TpmEvidence {
  /** TPM2B_PUBLIC of the identity key (the key of the CSR). */
  keyPublic: Uint8Array;
  /** TPMS_ATTEST of TPM2_Certify(identity key) and its TPMT_SIGNATURE by the AK. */
  certifyInfo: Uint8Array;
  certifySignature: Uint8Array;
  /** TPMS_ATTEST of TPM2_Quote(PCRs) and its TPMT_SIGNATURE by the AK. */
  quoteInfo: Uint8Array;
  quoteSignature: Uint8Array;
}

export type AttestationRequest = { step: 'identify' } | ({ step: 'evidence' } & AttestationChallenge);
export type AttestationAnswer = AttestationIdentity | TpmEvidence;
