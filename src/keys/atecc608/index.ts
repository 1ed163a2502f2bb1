export { type Atecc608DeviceParams, Atecc608KeyDevice, createDevice, spkiFromXy } from './atecc608-device.js';
export {
  Atecc608Driver,
  type Atecc608DriverOptions,
  type Atecc608DriverStats,
  slotSize,
} from './atecc608-driver.js';
export { certificateCapacity, certificateSlots, spareKeySlots } from './certificate-record.js';
export { crc16 } from './crc16.js';
export type { I2cBusLike } from './i2c-bus-like.js';
export { Opcode, opcodeName } from './opcodes.js';
export { buildCommand, parseResponse, WAKE_TOKEN } from './packet.js';
export { SharedBusLock } from './shared-bus-lock.js';
export { Atecc608StatusError, statusText } from './status.js';
