import { Atecc608Model, type Atecc608ModelOptions } from './atecc608-model.js';
import { SimulatedI2cBus } from './simulated-i2c-bus.js';

export {
  type Atecc608Faults,
  Atecc608Model,
  type Atecc608ModelOptions,
  type Atecc608ModelStats,
  defaultConfig,
  type PowerState,
} from './atecc608-model.js';
export { SimulatedI2cBus } from './simulated-i2c-bus.js';

export interface SimulatedBusOptions extends Atecc608ModelOptions {
  /** 7-bit address the part answers at; default 0x60. */
  address?: number;
}

/**
 * A bus with a fresh or persisted ATECC608A model on it; `bus.model` reaches the part. Without an
 * explicit address the part answers where its config zone says (byte 16 is the 8-bit form: 0xC0).
 */
export function openSimulatedBus(options: SimulatedBusOptions = {}): SimulatedI2cBus {
  const { address, ...modelOptions } = options;
  const model = new Atecc608Model(modelOptions);
  return new SimulatedI2cBus(model, address ?? (model.config[16] ?? 0xc0) >> 1);
}
