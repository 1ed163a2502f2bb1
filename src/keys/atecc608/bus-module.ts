import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { KeyError } from '../key-error.js';
import type { I2cBusLike, I2cBusModule } from './i2c-bus-like.js';

/** A bus that may say what it is (e.g. a simulator), for KeyStoreInfo.model. */
export type LabelledBus = I2cBusLike & { label?: string };

/**
 * Opens the bus an I2cBusModule names. Synchronous (require of an ES module, Node ≥ 22.12), like
 * every device call: the device runs on its worker thread or in the provisioning CLI.
 */
export function openBusModule(spec: I2cBusModule, where: string): LabelledBus {
  let open: unknown;
  try {
    const path = spec.module.startsWith('file:') ? fileURLToPath(spec.module) : spec.module;
    open = (createRequire(import.meta.url)(path) as Record<string, unknown>)[spec.exportName];
  } catch (error) {
    throw new KeyError(
      'EGW_KEY_DEVICE_MISSING',
      `cannot load the I2C bus module ${spec.module} for the ATECC608A on ${where}: ${(error as Error).message}`,
      {
        hint: 'run `npm run build`, or leave identity.key.atecc608.simulator_state empty to use the real part',
      },
    );
  }
  if (typeof open !== 'function') {
    throw new KeyError(
      'EGW_KEY_DEVICE_ERROR',
      `the I2C bus module ${spec.module} has no function ${spec.exportName} (for the ATECC608A on ${where})`,
    );
  }
  return (open as (options: Record<string, unknown>) => LabelledBus)(spec.options);
}

export function isBusModule(value: unknown): value is I2cBusModule {
  const v = value as Partial<I2cBusModule> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.module === 'string' &&
    typeof v.exportName === 'string' &&
    typeof v.options === 'object' &&
    v.options !== null
  );
}
