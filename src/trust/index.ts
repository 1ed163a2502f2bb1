/** Offline trust: trust bundles, the clock floor, path validation, revocation, enrollment, policy. */
export { ClockFloor } from './clock-floor.js';
export {
  type CrlImportResult,
  type CrlInfo,
  CrlStore,
  type RevocationGapDelta,
  RevocationGaps,
} from './revocation/index.js';
export type { SensorIdentity } from './sensor-identity.js';
export {
  enrollmentKeyOf,
  type NameBinding,
  type NameClaim,
  parseEnrollmentKey,
  type SensorNameSource,
  SensorNames,
  upstreamNameOf,
} from './sensor-names.js';
export { SensorTrust, type SensorTrustStatus, type SensorVerdict } from './sensor-trust.js';
export { TrustBundleStore, type TrustedCertificate } from './trust-bundle-store.js';
export { TrustError, type TrustErrorCode } from './trust-error.js';
export { type Refusal, VALIDATION_REASONS, type ValidationReason } from './validation-reason.js';
