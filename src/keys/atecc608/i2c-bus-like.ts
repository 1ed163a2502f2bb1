/**
 * The synchronous subset of the `i2c-bus` npm package's Bus that the driver needs, so the driver
 * runs unchanged over /dev/i2c-N (i2c-bus) and over the hw-sim model (SimulatedI2cBus).
 *
 * i2c-bus implements these with read(2)/write(2) on the i2c-dev file after setting the slave
 * address, so a NACK surfaces as a Node system error: code 'EREMOTEIO' (errno -121) on most
 * adapters, 'ENXIO' or 'EIO' on some.
 */
export interface I2cBusLike {
  i2cWriteSync(address: number, length: number, buffer: Buffer): number;
  i2cReadSync(address: number, length: number, buffer: Buffer): number;
  closeSync(): void;
}

const NO_ANSWER_CODES = new Set(['EREMOTEIO', 'ENXIO', 'EIO', 'ETIMEDOUT', 'EAGAIN']);

/** True when an i2c-bus error means "nobody acknowledged" (asleep, busy, absent), not a broken bus. */
export function isNack(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NO_ANSWER_CODES.has(code);
}

/**
 * A bus other than /dev/i2c-N, given as data (it crosses to the key worker thread by
 * structuredClone, which a bus object cannot): `exportName` of the ES module at `module` (a file:
 * URL), called with `options`, returns the bus. The daemon's factory (daemon/simulated-atecc608-bus.ts)
 * names the simulator's bus this way when the config asks for it; keys/ never knows what it is.
 */
export interface I2cBusModule {
  module: string;
  exportName: string;
  /** Structured-clonable; identifies the part for the bus lock together with `module`. */
  options: Record<string, unknown>;
}
