export { type SoftwareDeviceParams, SoftwareKeyDevice } from './software-key-device.js';
