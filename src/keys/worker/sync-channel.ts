/**
 * The shared memory through which a thread that must not yield hands a digest to the device worker
 * and sleeps in Atomics.wait until the signature is back. Two kinds of thread ask: the main thread
 * (WorkerKeyStore.signDigestSync) and the TLS signing thread (tls/signing-thread-worker.ts), whose
 * OpenSSL sign callback runs while a handshake step runs off the event loop. The device worker
 * answers; it watches the memory itself (Atomics.waitAsync), so a request needs no message.
 *
 * One word holds the state and the request's sequence number, so every transition is one
 * compare-and-swap and an answer can never land in a later request:
 *   IDLE → CLAIMED (a requester owns the slot) → REQUEST (digest written) → WRITING (the worker
 *   took it) → DONE | FAILED (answer written) → IDLE (the requester read it).
 * A requester that times out swaps REQUEST back to IDLE; a worker that finishes later finds its
 * sequence gone and writes nothing. Once the worker is WRITING, the requester waits for it (writing
 * an answer takes microseconds).
 *
 * Layout: Int32 [word, request length, answer length, unused], request bytes, answer bytes.
 */
const IDLE = 0;
const CLAIMED = 1;
const REQUEST = 2;
const WRITING = 3;
const DONE = 4;
const FAILED = 5;
const STATE_BITS = 3;
const STATE_MASK = (1 << STATE_BITS) - 1;
const SEQUENCE_LIMIT = 1 << (31 - STATE_BITS);

const HEADER_BYTES = 16;
const REQUEST_BYTES = 256;
const ANSWER_BYTES = 4096;

/** How a request ended, as the requester sees it. */
export type SyncAnswer =
  | { ok: true; payload: Uint8Array }
  | { ok: false; payload: Uint8Array }
  | { ok: false; timedOut: true; busy: boolean };

function word(sequence: number, state: number): number {
  return (sequence << STATE_BITS) | state;
}

export class SyncChannel {
  readonly buffer: SharedArrayBuffer;
  readonly #header: Int32Array;
  readonly #request: Uint8Array;
  readonly #answer: Uint8Array;

  constructor(buffer = new SharedArrayBuffer(HEADER_BYTES + REQUEST_BYTES + ANSWER_BYTES)) {
    this.buffer = buffer;
    this.#header = new Int32Array(buffer, 0, 4);
    this.#request = new Uint8Array(buffer, HEADER_BYTES, REQUEST_BYTES);
    this.#answer = new Uint8Array(buffer, HEADER_BYTES + REQUEST_BYTES, ANSWER_BYTES);
  }

  // ---- requester side (blocks its thread; never call it where Atomics.wait is refused) ----

  /**
   * Posts `request` and sleeps until the device worker answers or `timeoutMs` passed (waiting for an
   * earlier requester to finish counts: the slot is then `busy`).
   */
  ask(request: Uint8Array, timeoutMs: number): SyncAnswer {
    if (request.length > REQUEST_BYTES) throw new RangeError(`a ${request.length}-byte request is too large`);
    const deadline = Date.now() + timeoutMs;
    const sequence = this.#claim(deadline);
    if (sequence === undefined) return { ok: false, timedOut: true, busy: true };
    this.#request.set(request);
    Atomics.store(this.#header, 1, request.length);
    this.#post(word(sequence, REQUEST));
    for (;;) {
      const current = Atomics.load(this.#header, 0);
      const state = current & STATE_MASK;
      if (state === DONE || state === FAILED) {
        const payload = this.#answer.slice(0, Atomics.load(this.#header, 2));
        this.#post(word(sequence, IDLE));
        return state === DONE ? { ok: true, payload } : { ok: false, payload };
      }
      const left = deadline - Date.now();
      if (left <= 0 && state === REQUEST) {
        // Give the request back unless the worker took it a moment ago.
        if (Atomics.compareExchange(this.#header, 0, current, word(sequence, IDLE)) === current) {
          Atomics.notify(this.#header, 0);
          return { ok: false, timedOut: true, busy: false };
        }
        continue;
      }
      Atomics.wait(this.#header, 0, current, Math.max(1, left));
    }
  }

  #claim(deadline: number): number | undefined {
    for (;;) {
      const current = Atomics.load(this.#header, 0);
      if ((current & STATE_MASK) === IDLE) {
        const sequence = ((current >>> STATE_BITS) + 1) % SEQUENCE_LIMIT;
        if (Atomics.compareExchange(this.#header, 0, current, word(sequence, CLAIMED)) === current) {
          return sequence;
        }
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      Atomics.wait(this.#header, 0, current, left);
    }
  }

  // ---- device worker side ----

  /** The request waiting to be served, or undefined. */
  pending(): { sequence: number; request: Uint8Array } | undefined {
    const current = Atomics.load(this.#header, 0);
    if ((current & STATE_MASK) !== REQUEST) return undefined;
    return {
      sequence: current >>> STATE_BITS,
      request: this.#request.slice(0, Atomics.load(this.#header, 1)),
    };
  }

  /** Answers request `sequence`; false (nothing written) if its requester gave up meanwhile. */
  answer(sequence: number, ok: boolean, payload: Uint8Array): boolean {
    const taken = word(sequence, REQUEST);
    if (Atomics.compareExchange(this.#header, 0, taken, word(sequence, WRITING)) !== taken) return false;
    const length = Math.min(payload.length, ANSWER_BYTES);
    this.#answer.set(payload.subarray(0, length));
    Atomics.store(this.#header, 2, length);
    this.#post(word(sequence, ok ? DONE : FAILED));
    return true;
  }

  /** Resolves once a request waits to be served (the worker's idle wait; holds no handle open). */
  async requested(): Promise<void> {
    for (;;) {
      const current = Atomics.load(this.#header, 0);
      if ((current & STATE_MASK) === REQUEST) return;
      const waiting = Atomics.waitAsync(this.#header, 0, current);
      if (waiting.async) await waiting.value;
    }
  }

  #post(value: number): void {
    Atomics.store(this.#header, 0, value);
    Atomics.notify(this.#header, 0);
  }
}
