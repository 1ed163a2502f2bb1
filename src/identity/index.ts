export { readCertificateFile } from './certificate-material.js';
export {
  type FactoryProvisioningOptions,
  installCertificates,
  type ProvisioningHooks,
  type ProvisioningResult,
  type ProvisioningStep,
  provisionFactory,
} from './factory-provisioning.js';
export { csrProfileFromConfig, keySettingsFromConfig } from './key-settings.js';
export { type CheckItem, type ProvisioningReport, verifyProvisioning } from './provisioning-check.js';
