import type { I2cBusModule } from './atecc608/i2c-bus-like.js';
import { SharedBusLock } from './atecc608/shared-bus-lock.js';
import { InProcessKeyStore } from './in-process-key-store.js';
import type { DeviceFactory, ProvisionableKeyDevice } from './key-device.js';
import { KeyError } from './key-error.js';
import type { KeyBackend, KeyStore } from './key-store.js';
import { SoftwareKeyDevice } from './software/index.js';
import { WorkerKeyStore } from './worker/worker-key-store.js';

/** Everything needed to reach the identity key, whatever the backend (from [identity.key]). */
export interface KeyStoreSettings {
  backend: KeyBackend;
  callTimeoutMs: number;
  certificateDir: string;
  /** authFile/authCredential: the keys' authValue (tpm/tpm-key-auth.ts); rotated keys share it. */
  tpm: {
    tcti: string;
    persistentHandle: number;
    authFile?: string;
    authCredential?: string;
    pcrPolicy?: string;
  };
  atecc608: {
    bus: number;
    address: number;
    keySlot: number;
    /** Sign with a spare key slot instead (rotated keys); see atecc608-device.ts. */
    signingSlot?: number;
    /**
     * The config asks for the simulator (simulator_state): only the daemon and gatewayctl know where
     * it is, and give its bus as i2cBus (daemon/simulated-atecc608-bus.ts); keys/ refuses without.
     */
    simulator?: { statePath: string; timing: boolean };
    /** Another bus than /dev/i2c-N. */
    i2cBus?: I2cBusModule;
  };
  software: { path: string };
}

/**
 * One lock per ATECC608A part in this process, handed to every thread that opens it (the factory
 * key's worker, a rotated key's worker, key creation on the main thread).
 */
const atecc608BusLocks = new Map<string, SharedArrayBuffer>();

function atecc608BusLock(part: KeyStoreSettings['atecc608']): SharedArrayBuffer {
  const id = part.i2cBus
    ? `module:${part.i2cBus.module}:${String(part.i2cBus.options.statePath ?? JSON.stringify(part.i2cBus.options))}`
    : `${part.bus}:${part.address}`;
  let lock = atecc608BusLocks.get(id);
  if (!lock) {
    lock = SharedBusLock.createBuffer();
    atecc608BusLocks.set(id, lock);
  }
  return lock;
}

/** The parameters the backend's device is created with, in its worker or in the CLI. */
export function deviceParams(settings: KeyStoreSettings): unknown {
  switch (settings.backend) {
    case 'tpm':
      return { ...settings.tpm, certificateDir: settings.certificateDir };
    case 'atecc608': {
      const { simulator, ...part } = settings.atecc608;
      if (simulator && !part.i2cBus) {
        throw new KeyError(
          'EGW_KEY_DEVICE_ERROR',
          `the ATECC608A simulator is configured (${simulator.statePath}) but no simulated bus was given`,
          { hint: 'only edge-gatewayd and gatewayctl provide it (withSimulatedBuses in daemon/)' },
        );
      }
      return { ...part, busLock: atecc608BusLock(part) };
    }
    case 'software':
      return { ...settings.software, certificateDir: settings.certificateDir };
  }
}

/** Opens the identity key for the daemon: hardware in its own worker, software in process. */
export async function openKeyStore(settings: KeyStoreSettings): Promise<KeyStore> {
  if (settings.backend === 'software') {
    return new InProcessKeyStore(
      new SoftwareKeyDevice(deviceParams(settings) as SoftwareKeyDevice['params']),
    );
  }
  return WorkerKeyStore.open(settings.backend, deviceParams(settings), {
    callTimeoutMs: settings.callTimeoutMs,
  });
}

/**
 * The device itself, on the calling thread, for provisioning (gatewayctl provision …): a short-lived
 * CLI may block while the part works, and it needs the operations a running daemon never does.
 */
export async function openProvisionableDevice(settings: KeyStoreSettings): Promise<ProvisionableKeyDevice> {
  const params = deviceParams(settings);
  switch (settings.backend) {
    case 'software':
      return new SoftwareKeyDevice(params as SoftwareKeyDevice['params']);
    case 'tpm':
      return ((await import('./tpm/tpm-device.js')) as { createDevice: DeviceFactory }).createDevice(
        params,
      ) as ProvisionableKeyDevice;
    case 'atecc608':
      return (
        (await import('./atecc608/atecc608-device.js')) as { createDevice: DeviceFactory }
      ).createDevice(params) as ProvisionableKeyDevice;
  }
}
