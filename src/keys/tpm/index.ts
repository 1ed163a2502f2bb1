export { createDevice, type TpmDeviceParams, TpmKeyDevice } from './tpm-device.js';
