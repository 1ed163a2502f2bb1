export { readCertificateFile } from './certificate-material.js';
export {
  csrAttributesFromBody,
  type EnrollOutcome,
  EstClient,
  type EstClientOptions,
  EstError,
  judgeCsrAttributes,
  retryAfterMs,
} from './est/index.js';
export {
  type FactoryProvisioningOptions,
  installCertificates,
  type ProvisioningHooks,
  type ProvisioningResult,
  type ProvisioningStep,
  provisionFactory,
} from './factory-provisioning.js';
export { csrProfileFromConfig, keySettingsFromConfig } from './key-settings.js';
export {
  type EstSettings,
  IdentityLifecycle,
  type IdentityLifecycleOptions,
  IdentityRecords,
  type IdentityState,
  type IdentityStatus,
  type RenewalPolicy,
  RotationKeyRing,
  renewalTime,
  retryDelayMs,
} from './lifecycle/index.js';
export { type CheckItem, type ProvisioningReport, verifyProvisioning } from './provisioning-check.js';
export { provisioningReportText } from './provisioning-report-text.js';
