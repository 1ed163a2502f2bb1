import type { SensorIdentity } from '../sensor-identity.js';
import type { Refusal } from '../validation-reason.js';
import type { AlgorithmPolicy } from './algorithm-policy.js';
import type { CertificateFacts } from './certificate-facts.js';

/** Revocation of `certificate` (issued by `issuer`) at `at`: a Refusal fails validation as is. */
export type RevocationCheck = (
  certificate: CertificateFacts,
  issuer: CertificateFacts,
  at: Date,
) => Refusal | undefined;

export interface PathValidatorOptions {
  policy: AlgorithmPolicy;
  /** Most intermediate CAs between the sensor and the anchor ([trust] max_chain_depth). */
  maxChainDepth: number;
  /** The device-type extension ([trust] device_type_oid): understood when critical, read into the identity. */
  deviceTypeOid: string;
  /**
   * Accept serial numbers RFC 5280 §4.1.2.2 forbids (negative, zero, over 20 octets) from legacy
   * sensor PKIs ([trust] lenient_serials); default false.
   */
  lenientSerials?: boolean;
  /**
   * Skip the RFC 5280 profile rules (certificate-profile.ts: key identifiers, criticality marks,
   * empty subjects, dNSName syntax) for legacy sensor PKIs ([trust] lenient_profile); default false.
   */
  lenientProfile?: boolean;
  /** Certificates and signature verdicts each kept (least recently used forgotten first); default 10,000. */
  cacheSize?: number;
}

/** The verdict: the path (sensor first, anchor last) and who the sensor is, or why it is refused. */
export type PathValidation =
  | { ok: true; path: CertificateFacts[]; identity: SensorIdentity }
  | { ok: false; refusal: Refusal; path?: CertificateFacts[] };

/** Counters since the validator was made, to see (and test) that the caches work. */
export interface ValidationStats {
  validations: number;
  /** Certificates parsed (cache misses). */
  certificatesParsed: number;
  /** Certificates found already parsed (cache, or the anchor index). */
  certificateCacheHits: number;
  /** Signatures verified with node:crypto. */
  signatureChecks: number;
  /** Signature verdicts found in the cache. */
  signatureCacheHits: number;
  cachedCertificates: number;
  cachedSignatures: number;
}
