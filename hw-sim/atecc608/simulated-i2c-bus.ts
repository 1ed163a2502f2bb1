import type { I2cBusLike } from '../../src/keys/atecc608/i2c-bus-like.js';
import type { Atecc608Model } from './atecc608-model.js';

/**
 * An I2C bus with one ATECC608A model on it, behaving like `i2c-bus` over /dev/i2c-N:
 * - a write to address 0x00 is the wake pulse (SDA held low); nobody acknowledges it, so it fails
 *   with EREMOTEIO as it does on real adapters;
 * - transfers to any address but the part's, or that the part does not acknowledge (asleep, busy,
 *   a NACK storm), fail with the error Node's fs raises: code 'EREMOTEIO', errno -121.
 */
export class SimulatedI2cBus implements I2cBusLike {
  readonly model: Atecc608Model;
  /** What the key device reports the part as (KeyStoreInfo.model: "ATECC608A rev … (hw-sim simulator)"). */
  readonly label = 'hw-sim simulator';
  readonly address: number;
  #closed = false;

  constructor(model: Atecc608Model, address = 0x60) {
    this.model = model;
    this.address = address;
  }

  i2cWriteSync(address: number, length: number, buffer: Buffer): number {
    this.#check(address, length, buffer, 'write');
    if (address === 0x00) {
      this.model.wakePulse();
      throw nack('write');
    }
    if (address !== this.address || !this.model.receive(new Uint8Array(buffer.subarray(0, length))))
      throw nack('write');
    return length;
  }

  i2cReadSync(address: number, length: number, buffer: Buffer): number {
    this.#check(address, length, buffer, 'read');
    const bytes = address === this.address ? this.model.transmit(length) : undefined;
    if (!bytes) throw nack('read');
    buffer.set(bytes);
    return length;
  }

  closeSync(): void {
    this.#closed = true;
  }

  #check(address: number, length: number, buffer: Buffer, syscall: string): void {
    if (this.#closed) throw systemError('EBADF', -9, 'bad file descriptor', syscall);
    if (!Number.isInteger(address) || address < 0 || address > 0x7f)
      throw new RangeError(`invalid I2C address ${address}`);
    if (!Number.isInteger(length) || length < 0 || length > buffer.length)
      throw new RangeError(`invalid length ${length}`);
  }
}

function nack(syscall: string): Error {
  return systemError('EREMOTEIO', -121, 'remote I/O error', syscall);
}

function systemError(code: string, errno: number, text: string, syscall: string): Error {
  return Object.assign(new Error(`${code}: ${text}, ${syscall}`), { code, errno, syscall });
}
