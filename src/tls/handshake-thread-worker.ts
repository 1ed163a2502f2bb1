/**
 * Entry point of the TLS handshake thread (see handshake-thread.ts for why it exists and the other side).
 *
 * Two jobs, one after another:
 * - handshake steps: SSL_do_handshake on an SSL object the main thread hands over, with the error
 *   queue it leaves (thread-local: only this thread can read it) sent back with the result;
 * - the sign callbacks of every worker-hosted key's EC_KEY_METHOD. OpenSSL calls them during a step
 *   here (directly), or from the main thread (koffi forwards the call here and holds the caller). The
 *   digest goes to the device worker through the key's SyncChannel and this thread sleeps in
 *   Atomics.wait, bounded by the key store's call timeout, until the signature is back.
 */

import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import { SyncChannel } from '../keys/index.js';
import { registerEcSignCallbacks } from '../native/openssl/ec-key-method.js';
import { libcrypto } from '../native/openssl/libcrypto.js';
import { libssl } from '../native/openssl/libssl.js';
import { ecdsaSigFromRaw, isP256Signature, writeDerSignature } from './ecdsa-signature-output.js';
import type {
  HandshakeThreadData,
  HandshakeThreadReport,
  HandshakeThreadRequest,
} from './handshake-thread-protocol.js';

const data = workerData as HandshakeThreadData;
const port = parentPort;
if (!port) throw new Error('handshake-thread-worker.js must run as a worker thread');
const { reports } = data;

const keys = new Map<bigint, { channel: SyncChannel; timeoutMs: number }>();

function report(message: HandshakeThreadReport): void {
  reports.postMessage(message);
}

/** Steps taken off the port while a sign callback looked for a key: they run after the current one. */
const deferred: HandshakeThreadRequest[] = [];

function handle(request: HandshakeThreadRequest): void {
  run(request);
  runDeferred();
}

function runDeferred(): void {
  for (let next = deferred.shift(); next; next = deferred.shift()) run(next);
}

function run(request: HandshakeThreadRequest): void {
  switch (request.kind) {
    case 'key':
      keys.set(request.ecKey, { channel: new SyncChannel(request.buffer), timeoutMs: request.timeoutMs });
      return;
    case 'forget':
      keys.delete(request.ecKey);
      return;
    case 'step': {
      const crypto = libcrypto();
      crypto.ERR_clear_error();
      const result = libssl().SSL_do_handshake(request.ssl);
      const sslError = result === 1 ? 0 : libssl().SSL_get_error(request.ssl, result);
      const errors: number[] = [];
      for (let code = crypto.ERR_get_error(); code !== 0; code = crypto.ERR_get_error()) errors.push(code);
      report({ kind: 'step', id: request.id, result, sslError, errors });
      return;
    }
  }
}

/**
 * The key a callback was called for when it is not known yet: a 'key' message may still be in the port
 * (OpenSSL copied the EC_KEY during this step). Steps found there wait: a step never runs inside another.
 */
function keyOf(ecKey: bigint): { channel: SyncChannel; timeoutMs: number } | undefined {
  for (
    let message = receiveMessageOnPort(port as never);
    message;
    message = receiveMessageOnPort(port as never)
  ) {
    const request = message.message as HandshakeThreadRequest;
    if (request.kind === 'step') deferred.push(request);
    else run(request);
  }
  // Inside a step, handle() runs the deferred ones next; a callback the main thread's own step forwarded
  // here has no handle() below it, so they are picked up once it returns.
  if (deferred.length > 0) setImmediate(runDeferred);
  return keys.get(ecKey);
}

function signature(ecKey: bigint, digest: bigint, digestLength: number): Uint8Array | null {
  const key = keys.get(ecKey) ?? keyOf(ecKey);
  if (!key) {
    report({ kind: 'failed', ecKey, detail: 'the key is not known to the handshake thread' });
    return null;
  }
  let answer: ReturnType<SyncChannel['ask']>;
  try {
    answer = key.channel.ask(new Uint8Array(koffi.view(digest, digestLength).slice(0)), key.timeoutMs);
  } catch (error) {
    report({ kind: 'failed', ecKey, detail: error instanceof Error ? error.message : String(error) });
    return null;
  }
  if (answer.ok && isP256Signature(answer.payload)) {
    report({ kind: 'signed', ecKey });
    return answer.payload;
  }
  if (answer.ok) {
    report({
      kind: 'failed',
      ecKey,
      detail: `a ${answer.payload.length}-byte signature, expected r‖s of 64 bytes`,
    });
  } else if ('timedOut' in answer) {
    report({ kind: 'timedOut', ecKey });
  } else {
    report({ kind: 'refused', ecKey, error: new TextDecoder().decode(answer.payload) });
  }
  return null;
}

const callbacks = registerEcSignCallbacks(
  (_type, digest, digestLength, out, outLength, _kinv, _r, ecKey) => {
    const raw = signature(ecKey, digest, digestLength);
    return raw ? writeDerSignature(raw, out, outLength, ecKey) : 0;
  },
  (digest, digestLength, _kinv, _r, ecKey) => {
    const raw = signature(ecKey, digest, digestLength);
    return raw ? ecdsaSigFromRaw(raw) : null;
  },
);
const pointers = new BigInt64Array(data.control, 8, 2);
pointers[0] = callbacks.sign;
pointers[1] = callbacks.signSig;
const started = new Int32Array(data.control, 0, 1);
Atomics.store(started, 0, 1);
Atomics.notify(started, 0);

// The listener also keeps this thread's event loop alive: koffi delivers forwarded callbacks through it.
port.on('message', handle);
