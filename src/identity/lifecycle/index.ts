export {
  type EstSettings,
  IdentityLifecycle,
  type IdentityLifecycleOptions,
  type IdentityStatus,
  type LifecycleClock,
  type LifecycleLog,
} from './identity-lifecycle.js';
export { type CertificateRecord, IdentityRecords, type IdentityState } from './identity-records.js';
export { type RenewalPolicy, renewalTime, retryDelayMs } from './renewal-policy.js';
export { type LifecycleKey, RotationKeyRing, type RotationSlot } from './rotation-key-ring.js';
