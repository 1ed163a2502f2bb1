/**
 * The TLS handshake thread: where handshake steps that sign run, and where the sign callbacks of
 * worker-hosted key stores (TPM, ATECC608A) wait for the device.
 *
 * Why. OpenSSL asks for a handshake signature (a DTLS server's ServerKeyExchange, a TLS client's
 * CertificateVerify) from inside SSL_do_handshake and needs it before that call returns. With the
 * identity key in a TPM or an ATECC608A a signature takes tens of milliseconds, and the thread that
 * made the call waits for it. So the main thread hands such a step to this thread (`step()`), and
 * keeps serving established sessions meanwhile. The key's sign callback is registered here, and
 * JavaScript may block here (Atomics.wait) while the device worker signs. The step's other callbacks
 * (cookie, info, security level, certificate verification) stay registered on the main thread: koffi
 * runs them there, in turn, while its loop is free. OpenSSL's error queue is per thread, so the
 * step's errors are read here and sent back with its result.
 * OpenSSL's async jobs (SSL_MODE_ASYNC) were the other route; they run the whole step on a fiber stack
 * of their own, where V8 cannot run those callbacks.
 *
 * If the main thread itself runs a step that signs (a caller that does not use `step()`), koffi
 * forwards the sign callback here and the main thread waits for it, as it did before this thread.
 *
 * One thread per process, started with the first worker-hosted key's EVP_PKEY, never stopped (keys
 * point to its callbacks until the process ends); it does not keep the process alive.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { builtWorkerEntry } from '../build-info/worker-entry.js';
import type { SigningChannel } from '../keys/index.js';
import type { Pointer } from '../native/openssl/libssl.js';
import type {
  HandshakeThreadData,
  HandshakeThreadReport,
  HandshakeThreadRequest,
} from './handshake-thread-protocol.js';
import { TlsError } from './tls-error.js';

/** Starting the thread loads koffi and libssl there: well under a second, even on a slow board. */
const START_TIMEOUT_MS = 10_000;

/** A step's outcome, as SSL_do_handshake and SSL_get_error gave it on the handshake thread. */
export interface HandshakeStepResult {
  result: number;
  sslError: number;
  /** The error queue the step left (packed OpenSSL error codes, oldest first). */
  errors: number[];
}

/** How a signature went: undefined when it was made, else the report kinds of a failure. */
export type SignatureOutcome =
  | Exclude<HandshakeThreadReport, { kind: 'step' } | { kind: 'signed' }>
  | undefined;

/** A step that cannot run: SSL_ERROR_SSL, no queued error. */
const THREAD_GONE: HandshakeStepResult = { result: -1, sslError: 1, errors: [] };

let shared: HandshakeThread | undefined;

/** The process's handshake thread, started on first use. */
export function handshakeThread(): HandshakeThread {
  shared ??= new HandshakeThread();
  return shared;
}

export class HandshakeThread {
  /** The thread's sign and sign_sig callbacks, for an EC_KEY_METHOD. */
  readonly signCallbacks: { sign: bigint; signSig: bigint };
  readonly #worker: Worker;
  readonly #reports: MessagePort;
  readonly #steps = new Map<number, (result: HandshakeStepResult) => void>();
  #nextStep = 1;
  #gone = false;
  /** Told of every signature's outcome, by EC_KEY. */
  onSignature: (ecKey: bigint, outcome: SignatureOutcome) => void = () => undefined;

  constructor() {
    const entry = builtWorkerEntry(new URL('./handshake-thread-worker.js', import.meta.url));
    if (!entry) {
      throw new TlsError('EGW_TLS_CONFIG', 'the TLS handshake thread is not built: run `npm run build`');
    }
    const control = new SharedArrayBuffer(24);
    const { port1, port2 } = new MessageChannel();
    this.#reports = port1;
    this.#reports.on('message', (report: HandshakeThreadReport) => this.#deliver(report));
    this.#reports.unref();
    const workerData: HandshakeThreadData = { control, reports: port2 };
    this.#worker = new Worker(entry, { workerData, transferList: [port2] });
    this.#worker.on('error', (error) => {
      process.emitWarning(`the TLS handshake thread failed: ${error.message}`, {
        code: 'EGW_TLS_HANDSHAKE_THREAD',
      });
    });
    // Never expected; if it happens, steps fail (their sessions free their SSL objects) instead of
    // waiting forever, and so do later ones.
    this.#worker.on('exit', () => {
      this.#gone = true;
      for (const resolve of this.#steps.values()) resolve(THREAD_GONE);
      this.#steps.clear();
    });
    this.#worker.unref();
    // Synchronous on purpose (keyStorePrivateKey is), once per process; no step can be waiting yet.
    const started = new Int32Array(control, 0, 1);
    if (Atomics.wait(started, 0, 0, START_TIMEOUT_MS) === 'timed-out') {
      void this.#worker.terminate();
      throw new TlsError(
        'EGW_TLS_CONFIG',
        `the TLS handshake thread did not start within ${START_TIMEOUT_MS} ms`,
      );
    }
    const pointers = new BigInt64Array(control, 8, 2);
    this.signCallbacks = { sign: pointers[0] as bigint, signSig: pointers[1] as bigint };
  }

  /** Signatures with `ecKey` are asked of the device behind `channel`. */
  addKey(ecKey: bigint, channel: SigningChannel): void {
    this.#post({ kind: 'key', ecKey, buffer: channel.buffer, timeoutMs: channel.timeoutMs });
  }

  forgetKey(ecKey: bigint): void {
    this.#post({ kind: 'forget', ecKey });
  }

  /**
   * Runs SSL_do_handshake on `ssl` on this thread. The caller must not touch `ssl` (nor its BIOs)
   * until the promise resolves.
   */
  step(ssl: Pointer): Promise<HandshakeStepResult> {
    if (this.#gone) return Promise.resolve(THREAD_GONE);
    const id = this.#nextStep++;
    return new Promise((resolve) => {
      this.#steps.set(id, resolve);
      this.#post({ kind: 'step', id, ssl: ssl as bigint });
    });
  }

  /** Delivers what the thread reported so far: call it before reading a key's last error. */
  drain(): void {
    for (
      let received = receiveMessageOnPort(this.#reports);
      received;
      received = receiveMessageOnPort(this.#reports)
    ) {
      this.#deliver(received.message as HandshakeThreadReport);
    }
  }

  #post(request: HandshakeThreadRequest): void {
    this.#worker.postMessage(request);
  }

  #deliver(report: HandshakeThreadReport): void {
    if (report.kind === 'step') {
      const resolve = this.#steps.get(report.id);
      this.#steps.delete(report.id);
      resolve?.({ result: report.result, sslError: report.sslError, errors: report.errors });
      return;
    }
    this.onSignature(report.ecKey, report.kind === 'signed' ? undefined : report);
  }
}
