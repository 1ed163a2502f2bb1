import { Worker } from 'node:worker_threads';
import { builtWorkerEntry } from '../../build-info/worker-entry.js';
import type { AttestationAnswer, AttestationRequest } from '../attestation.js';
import { KeyError } from '../key-error.js';
import type { HealthReport, KeyBackend, KeyStore, KeyStoreInfo, SigningChannel } from '../key-store.js';
import { signVerifyRoundTrip } from '../round-trip-check.js';
import { type SyncAnswer, SyncChannel } from './sync-channel.js';
import type {
  DeviceWorkerData,
  HostMessage,
  SerializedError,
  WorkerMethod,
  WorkerReply,
} from './worker-protocol.js';

export interface WorkerKeyStoreOptions {
  /** Per-call ceiling; a device that does not answer in time is restarted. */
  callTimeoutMs?: number;
  /** Test hook: a module exporting createDevice() to run instead of the backend's own. */
  deviceModule?: string;
}

/**
 * A KeyStore whose device lives in its own worker thread (one worker per device).
 *
 * - Async calls are messages to the worker; the worker runs them one at a time, so the device sees
 *   serialized calls and the main event loop keeps serving while, say, an ATECC608A signs for 115 ms.
 * - signDigestSync() shares memory with the worker and sleeps in Atomics.wait. It queues behind any
 *   call already in the worker. The same memory is the store's signingChannel(): the TLS signing
 *   thread asks through it while a handshake step runs off the event loop.
 * - A call that overruns its timeout fails with EGW_KEY_TIMEOUT and the worker is replaced (the
 *   device is re-opened on the next call), so one stuck transaction cannot wedge the gateway.
 */
export class WorkerKeyStore implements KeyStore {
  #info: KeyStoreInfo | undefined;
  #worker: Worker | undefined;
  #nextId = 1;
  #closed = false;
  readonly #pending = new Map<
    number,
    { worker: Worker; resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  readonly #sync = new SyncChannel();
  readonly #callTimeoutMs: number;

  private constructor(
    private readonly backend: KeyBackend,
    private readonly params: unknown,
    private readonly options: WorkerKeyStoreOptions,
  ) {
    this.#callTimeoutMs = options.callTimeoutMs ?? 5_000;
  }

  static async open(
    backend: KeyBackend,
    params: unknown,
    options: WorkerKeyStoreOptions = {},
  ): Promise<WorkerKeyStore> {
    const store = new WorkerKeyStore(backend, params, options);
    try {
      store.#info = (await store.#call('open')) as KeyStoreInfo;
    } catch (error) {
      await store.#terminate();
      throw error;
    }
    return store;
  }

  get info(): KeyStoreInfo {
    if (!this.#info) throw new KeyError('EGW_KEY_CLOSED', 'key store is not open');
    return this.#info;
  }

  async publicKey(): Promise<Uint8Array> {
    return new Uint8Array((await this.#call('publicKey')) as Uint8Array);
  }

  async signDigest(digest: Uint8Array): Promise<Uint8Array> {
    checkDigest(digest);
    return new Uint8Array((await this.#call('signDigest', digest)) as Uint8Array);
  }

  signDigestSync(digest: Uint8Array): Uint8Array {
    checkDigest(digest);
    this.#ensureWorker();
    return this.#signature(this.#sync.ask(digest, this.#callTimeoutMs), 'signDigestSync');
  }

  signingChannel(): SigningChannel {
    return {
      buffer: this.#sync.buffer,
      timeoutMs: this.#callTimeoutMs,
      timedOut: () => {
        void this.#terminate().then(() => {
          // The asking thread cannot start a worker: a replacement must be there for its next request.
          if (!this.#closed) this.#ensureWorker();
        });
        return this.#timeoutError('signDigestSync');
      },
    };
  }

  /** The signature in a channel answer, or the KeyError it carries (a timeout restarts the device). */
  #signature(answer: SyncAnswer, method: string): Uint8Array {
    if (answer.ok) return answer.payload;
    if ('timedOut' in answer) {
      void this.#terminate();
      throw this.#timeoutError(method);
    }
    throw deserialize(JSON.parse(new TextDecoder().decode(answer.payload)) as SerializedError);
  }

  async certificates(): Promise<{ device?: Uint8Array; signer?: Uint8Array }> {
    return (await this.#call('readCertificates')) as { device?: Uint8Array; signer?: Uint8Array };
  }

  async healthCheck(): Promise<HealthReport> {
    const checks: HealthReport['checks'] = [];
    try {
      checks.push(
        await signVerifyRoundTrip(
          () => this.publicKey(),
          (digest) => this.signDigest(digest),
        ),
      );
      checks.push(...((await this.#call('healthChecks')) as HealthReport['checks']));
    } catch (error) {
      checks.push({
        name: 'device reachable',
        ok: false,
        detail: error instanceof Error ? error.message : String(error),
      });
    }
    return { ok: checks.every((check) => check.ok), checks };
  }

  async attest(request: AttestationRequest): Promise<AttestationAnswer> {
    return (await this.#call('attest', request)) as AttestationAnswer;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    if (worker) {
      await this.#post(worker, 'close').catch(() => undefined);
      await this.#terminate();
    }
  }

  #ensureWorker(): Worker {
    if (this.#closed) throw new KeyError('EGW_KEY_CLOSED', 'key store is closed');
    if (this.#worker) return this.#worker;
    const workerData: DeviceWorkerData = {
      backend: this.backend,
      params: this.params,
      sync: this.#sync.buffer,
      ...(this.options.deviceModule ? { deviceModule: this.options.deviceModule } : {}),
    };
    const worker = new Worker(workerEntry(), { workerData });
    worker.on('message', (reply: WorkerReply) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(deserialize(reply.error));
    });
    worker.on('error', (error) =>
      this.#failAll(
        worker,

        new KeyError('EGW_KEY_DEVICE_ERROR', `key device worker crashed: ${error.message}`, { cause: error }),
      ),
    );
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failAll(worker, new KeyError('EGW_KEY_DEVICE_ERROR', 'key device worker exited'));
    });
    this.#worker = worker;
    // A replacement worker must re-open the device before serving anything else.
    if (this.#info) void this.#post(worker, 'open').catch(() => undefined);
    return worker;
  }

  #call(method: WorkerMethod, arg?: HostMessage['arg']): Promise<unknown> {
    return this.#post(this.#ensureWorker(), method, arg);
  }

  #post(worker: Worker, method: WorkerMethod, arg?: HostMessage['arg']): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(this.#timeoutError(method));
        void this.#terminate();
      }, this.#callTimeoutMs);
      this.#pending.set(id, {
        worker,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      worker.postMessage({ kind: 'call', id, method, arg });
    });
  }

  #timeoutError(method: string): KeyError {
    return new KeyError(
      'EGW_KEY_TIMEOUT',
      `${this.backend} key device did not answer ${method} within ${this.#callTimeoutMs} ms`,
      {
        hint: 'the device is restarted on the next call; if this repeats, check the bus/TPM (identity.key.call_timeout_ms sets the limit)',
      },
    );
  }

  /** Rejects the calls that were waiting on `worker` (a replacement's calls are not its business). */
  #failAll(worker: Worker, error: Error): void {
    for (const [id, pending] of this.#pending) {
      if (pending.worker !== worker) continue;
      this.#pending.delete(id);
      pending.reject(error);
    }
  }

  async #terminate(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
  }
}

function checkDigest(digest: Uint8Array): void {
  if (digest.length !== 32) {
    throw new KeyError('EGW_KEY_BAD_DIGEST', `expected a 32-byte SHA-256 digest, got ${digest.length} bytes`);
  }
}

function deserialize(error: SerializedError): KeyError {
  return new KeyError(error.code, error.message, error.hint ? { hint: error.hint } : {});
}

/** The compiled device worker (see builtWorkerEntry). */
function workerEntry(): URL {
  const entry = builtWorkerEntry(new URL('./device-worker.js', import.meta.url));
  if (!entry) {
    throw new KeyError('EGW_KEY_DEVICE_ERROR', 'the key device worker is not built: run `npm run build`');
  }
  return entry;
}
