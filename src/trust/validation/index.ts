/** Certificate path validation for sensor certificates: RFC 5280 subset, strict, cached. */
export { type AlgorithmPolicy, keyRefusal, signatureAlgorithmRefusal } from './algorithm-policy.js';
export { AnchorIndex, type SkippedCertificate } from './anchor-index.js';
export {
  type BasicConstraints,
  type CertificateExtension,
  KEY_USAGE_NAMES,
  type KeyUsageName,
  type SubjectAltName,
} from './certificate-extensions.js';
export { CertificateFacts, MAX_CERTIFICATE_BYTES } from './certificate-facts.js';
export { hex, timeOf } from './der-values.js';
/**
 * A Name's DER as readable text, as CertificateFacts gives subjects (the CRL cache names issuers with
 * it), and as its RFC 5280 §7.1 comparison key, as CertificateFacts keys them (the CRL cache matches
 * a CRL's issuer to its CA with it).
 */
export { distinguishedNameKey, distinguishedNameText } from './distinguished-name.js';
export type { KeyAlgorithm } from './key-algorithm.js';
/** The bounded cache the validator keeps its certificates and verdicts in (the CRL cache may reuse it). */
export { LruCache } from './lru-cache.js';
export type {
  PathValidation,
  PathValidatorOptions,
  RevocationCheck,
  ValidationStats,
} from './path-validation.js';
export { PathValidator } from './path-validator.js';
export {
  type DeviceTypeReading,
  deviceTypeText,
  readDeviceType,
  sensorIdentityOf,
} from './sensor-identity-of.js';
/** Signature algorithm and check, shared with the CRL cache (a CRL is signed like a certificate). */
export { readSignatureAlgorithm, type SignatureAlgorithm } from './signature-algorithm.js';
export { type SignatureVerdict, type SignedData, verifySignature } from './signature-check.js';
export { ValidationFailure } from './validation-failure.js';
