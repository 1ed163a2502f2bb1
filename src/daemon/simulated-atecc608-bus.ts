import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { I2cBusModule, KeyStoreSettings } from '../keys/index.js';

/**
 * The ATECC608A simulator's bus, chosen when identity.key.atecc608.simulator_state is set (HIL
 * tests, the demo): the daemon and gatewayctl pass their key settings through withSimulatedBuses. The simulator is not part of the product: src/ never imports it; package.json
 * maps this specifier to the built simulator ("imports"), and the key device loads whatever module
 * it is handed (keys/atecc608/bus-module.ts), only when the config asks for the simulator.
 */
export const ATECC608_SIMULATOR_MODULE = '#atecc608-simulator';

export function simulatedAtecc608Bus(simulator: { statePath: string; timing: boolean }): I2cBusModule {
  let module = ATECC608_SIMULATOR_MODULE;
  try {
    module = pathToFileURL(createRequire(import.meta.url).resolve(ATECC608_SIMULATOR_MODULE)).href;
  } catch {
    // Not built (or not shipped): the device says so when it opens the bus, with a hint.
  }
  return {
    module,
    exportName: 'openSimulatedBus',
    options: { statePath: simulator.statePath, timing: simulator.timing },
  };
}

/** Key settings with the simulator's bus filled in where the config asks for the simulator. */
export function withSimulatedBuses(settings: KeyStoreSettings): KeyStoreSettings {
  const simulator = settings.atecc608.simulator;
  if (!simulator || settings.atecc608.i2cBus) return settings;
  return { ...settings, atecc608: { ...settings.atecc608, i2cBus: simulatedAtecc608Bus(simulator) } };
}
