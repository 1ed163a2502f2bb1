export { spareKeySlots } from './atecc608/certificate-record.js';
export type { I2cBusModule } from './atecc608/i2c-bus-like.js';
export type {
  AttestationAnswer,
  AttestationChallenge,
  AttestationIdentity,
  AttestationRequest,
  TpmEvidence,
} from './attestation.js';
export { InProcessKeyStore } from './in-process-key-store.js';
export type { DeviceFactory, FactoryCertificates, KeyDevice, ProvisionableKeyDevice } from './key-device.js';
export { KeyError, type KeyErrorCode } from './key-error.js';
export type { HealthReport, KeyBackend, KeyStore, KeyStoreInfo, SigningChannel } from './key-store.js';
export {
  deviceParams,
  type KeyStoreSettings,
  openKeyStore,
  openProvisionableDevice,
} from './open-key-store.js';
export { signVerifyRoundTrip } from './round-trip-check.js';
export { type SoftwareDeviceParams, SoftwareKeyDevice } from './software/index.js';
export { type SyncAnswer, SyncChannel } from './worker/sync-channel.js';
export { WorkerKeyStore, type WorkerKeyStoreOptions } from './worker/worker-key-store.js';
