import { KeyError } from '../key-error.js';

/** Longer than any single ATECC608A operation with its retries (GenKey + 3 re-wakes < 1 s). */
const DEFAULT_LEASE_MS = 5_000;
const FREE = 0;

/**
 * Serializes ATECC608A operations between threads that share one part: the factory key's worker
 * and a rotated key's worker (or the daemon's main thread creating that key) each drive the same
 * bus, and a command must not meet another thread's response. Lives in a SharedArrayBuffer that
 * every thread opening the part receives.
 *
 * A holder that dies inside an operation (a worker terminated after a call timeout) would keep the
 * lock forever, so the lock is a lease: after `leaseMs` a waiter takes it over.
 *
 * Only threads of one process share it; two processes on one part (a CLI beside the daemon) are
 * not serialized.
 */
export class SharedBusLock {
  /** [0] = holder id or 0; [1] = last holder id (tells a holder whether someone else used the part). */
  readonly #cells: Int32Array;
  readonly #holder: number;
  readonly #leaseMs: number;

  static createBuffer(): SharedArrayBuffer {
    return new SharedArrayBuffer(8);
  }

  constructor(buffer: SharedArrayBuffer, options: { leaseMs?: number } = {}) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== 8) {
      throw new KeyError('EGW_KEY_DEVICE_ERROR', 'the ATECC608A bus lock needs an 8-byte SharedArrayBuffer');
    }
    this.#cells = new Int32Array(buffer);
    // Random, not the thread id: two drivers in one thread (daemon main thread) must differ too.
    this.#holder = 1 + Math.floor(Math.random() * 0x7fff_fffe);
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /**
   * Blocks until this thread holds the part. Returns true when another holder used the part since
   * this one last did (its wake state is then unknown).
   */
  acquire(): boolean {
    const deadline = performance.now() + this.#leaseMs;
    for (;;) {
      const current = Atomics.compareExchange(this.#cells, 0, FREE, this.#holder);
      if (current === FREE) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        // The holder outlived any operation: take over, unless it was released meanwhile.
        if (Atomics.compareExchange(this.#cells, 0, current, this.#holder) === current) break;
        continue;
      }
      Atomics.wait(this.#cells, 0, current, left);
    }
    return Atomics.exchange(this.#cells, 1, this.#holder) !== this.#holder;
  }

  release(): void {
    Atomics.compareExchange(this.#cells, 0, this.#holder, FREE);
    Atomics.notify(this.#cells, 0, 1);
  }
}
