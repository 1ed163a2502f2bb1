/**
 * Entry point of a key device's worker thread. It owns the device (an ESYS context, an I2C file
 * descriptor), so every call to the part happens here, one at a time, while the main thread's event
 * loop stays free. See worker-key-store.ts for the other side.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GatewayError } from '../../errors/index.js';
import type { AttestationRequest } from '../attestation.js';
import type { DeviceFactory, KeyDevice } from '../key-device.js';
import { SyncChannel } from './sync-channel.js';
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
/** Resolves once the device is open: a synchronous request can arrive before the host's 'open'. */
let markOpened: () => void = () => undefined;
const opened = new Promise<void>((resolve) => {
  markOpened = resolve;
});

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

async function call(method: string, arg: HostMessage['arg']): Promise<unknown> {
  if (method === 'open') {
    device ??= await loadDevice();
    const info = device.open();
    markOpened();
    return info;
  }
  if (!device) throw new GatewayError('EGW_KEY_CLOSED', 'key device is not open');
  switch (method) {
    case 'publicKey':
      return device.publicKey();
    case 'signDigest':
      return device.signDigest((arg as Uint8Array | undefined) ?? new Uint8Array());
    case 'readCertificates':
      return device.readCertificates();
    case 'healthChecks':
      return device.healthChecks?.() ?? [];
    case 'attest':
      if (!device.attest) {
        throw new GatewayError('EGW_KEY_DEVICE_ERROR', `the ${data.backend} key device gives no attestation`);
      }
      return device.attest(arg as unknown as AttestationRequest);
    case 'close':
      device.close();
      device = undefined;
      return null;
    default:
      throw new GatewayError('EGW_KEY_DEVICE_ERROR', `unknown device method "${method}"`);
  }
}

// Messages and synchronous requests are handled strictly one after another: a device call is
// synchronous, and the async `open` (module import) is awaited before the next one is looked at.
let queue = Promise.resolve();
port.on('message', (message: HostMessage) => {
  queue = queue.then(() => handle(message));
});

async function handle(message: HostMessage): Promise<void> {
  let reply: WorkerReply;
  try {
    reply = { id: message.id, ok: true, result: await call(message.method, message.arg) };
  } catch (error) {
    reply = { id: message.id, ok: false, error: serialize(error) };
  }
  port?.postMessage(reply);
}

/** A synchronous requester (main thread or the TLS signing thread) posted a digest: sign it. */
function serveSync(): void {
  const pending = sync.pending();
  if (!pending) return;
  try {
    if (!device) throw new GatewayError('EGW_KEY_CLOSED', 'key device is not open');
    sync.answer(pending.sequence, true, device.signDigest(pending.request));
  } catch (error) {
    sync.answer(pending.sequence, false, new TextEncoder().encode(JSON.stringify(serialize(error))));
  }
}

// The channel is watched, not messaged: a requester on another thread than the host's can post.
async function watchSyncChannel(): Promise<void> {
  for (;;) {
    await sync.requested();
    await opened;
    queue = queue.then(serveSync);
    await queue;
  }
}
void watchSyncChannel();
