/**
 * Entry point of a key device's worker thread. It owns the device (an ESYS context, an I2C file
 * descriptor), so every call to the part happens here, one at a time, while the main thread's event
 * loop stays free. See worker-key-store.ts for the other side.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GatewayError } from '../../errors/index.js';
import type { DeviceFactory, KeyDevice } from '../key-device.js';
import { SYNC_DONE, SYNC_FAILED, SyncChannel } from './sync-channel.js';
import type { DeviceWorkerData, HostMessage, SerializedError, WorkerReply } from './worker-protocol.js';

const BACKEND_MODULES: Record<string, string> = {
  tpm: '../tpm/tpm-device.js',
  atecc608: '../atecc608/atecc608-device.js',
};

const data = workerData as DeviceWorkerData;
const port = parentPort;
if (!port) throw new Error('device-worker.js must run as a worker thread');
const sync = new SyncChannel(data.sync);

let device: KeyDevice | undefined;

async function loadDevice(): Promise<KeyDevice> {
  const specifier = data.deviceModule ?? BACKEND_MODULES[data.backend];
  if (!specifier)
    throw new GatewayError('EGW_KEY_DEVICE_ERROR', `no worker device for backend "${data.backend}"`);
  const module = (await import(new URL(specifier, import.meta.url).href)) as { createDevice: DeviceFactory };
  return module.createDevice(data.params);
}

function serialize(error: unknown): SerializedError {
  if (error instanceof GatewayError) {
    return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  }
  return { code: 'EGW_KEY_DEVICE_ERROR', message: error instanceof Error ? error.message : String(error) };
}

async function call(method: string, arg: Uint8Array | undefined): Promise<unknown> {
  if (method === 'open') {
    device ??= await loadDevice();
    return device.open();
  }
  if (!device) throw new GatewayError('EGW_KEY_CLOSED', 'key device is not open');
  switch (method) {
    case 'publicKey':
      return device.publicKey();
    case 'signDigest':
      return device.signDigest(arg ?? new Uint8Array());
    case 'readCertificates':
      return device.readCertificates();
    case 'healthChecks':
      return device.healthChecks?.() ?? [];
    case 'close':
      device.close();
      device = undefined;
      return null;
    default:
      throw new GatewayError('EGW_KEY_DEVICE_ERROR', `unknown device method "${method}"`);
  }
}

// Messages are handled strictly one after another: a device call is synchronous, and the async
// `open` (module import) is awaited before the next message is looked at.
let queue = Promise.resolve();
port.on('message', (message: HostMessage) => {
  queue = queue.then(() => handle(message));
});

async function handle(message: HostMessage): Promise<void> {
  if (message.kind === 'sync') {
    if (sync.sequence !== message.sequence) return; // the host gave up on this one already
    try {
      if (!device) throw new GatewayError('EGW_KEY_CLOSED', 'key device is not open');
      sync.write(device.signDigest(sync.read()));
      sync.post(SYNC_DONE, message.sequence);
    } catch (error) {
      sync.write(new TextEncoder().encode(JSON.stringify(serialize(error))));
      sync.post(SYNC_FAILED, message.sequence);
    }
    return;
  }
  let reply: WorkerReply;
  try {
    reply = { id: message.id, ok: true, result: await call(message.method, message.arg) };
  } catch (error) {
    reply = { id: message.id, ok: false, error: serialize(error) };
  }
  port?.postMessage(reply);
}
