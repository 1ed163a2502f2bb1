export {
  ATTEST_CHALLENGE_OPERATION,
  type ChallengeAnswer,
  type ChallengeRequest,
  decodeChallengeAnswer,
  decodeChallengeRequest,
  encodeChallengeAnswer,
  encodeChallengeRequest,
} from './attestation-challenge.js';
export { attestationError } from './attestation-error.js';
export { attestationAttribute } from './attested-csr.js';
export {
  type DeviceEvidenceStatement,
  decodeDeviceEvidenceBundles,
  decodeNonceChallenge,
  deviceAttestationAttribute,
  deviceSignedMessage,
  encodeDeviceEvidenceBundles,
  encodeNonceChallenge,
  encodeNonceChallengeRequest,
  type NonceChallenge,
  OID_ATECC608_DEVICE_SIGNATURE,
} from './device-certificate-evidence.js';
export {
  decodeEvidenceBundles,
  encodeEvidenceAttribute,
  encodeEvidenceBundles,
  OID_EVIDENCE_ATTRIBUTE,
  OID_TPM2_CERTIFY_QUOTE,
  type TpmEvidenceStatement,
} from './evidence-attribute.js';
