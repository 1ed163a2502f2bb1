/**
 * The shared memory through which a thread that must not yield (the TLS sign callback) hands a
 * digest to the device worker and sleeps in Atomics.wait until the signature is back.
 *
 * Layout: Int32 [state, sequence, length] then up to DATA_BYTES of payload.
 */
export const SYNC_IDLE = 0;
export const SYNC_REQUEST = 1;
export const SYNC_DONE = 2;
export const SYNC_FAILED = 3;

const HEADER_BYTES = 16;
const DATA_BYTES = 4096;

export class SyncChannel {
  readonly buffer: SharedArrayBuffer;
  readonly header: Int32Array;
  readonly data: Uint8Array;

  constructor(buffer = new SharedArrayBuffer(HEADER_BYTES + DATA_BYTES)) {
    this.buffer = buffer;
    this.header = new Int32Array(buffer, 0, 3);
    this.data = new Uint8Array(buffer, HEADER_BYTES, DATA_BYTES);
  }

  get state(): number {
    return Atomics.load(this.header, 0);
  }

  get sequence(): number {
    return Atomics.load(this.header, 1);
  }

  write(payload: Uint8Array): void {
    this.data.set(payload);
    Atomics.store(this.header, 2, payload.length);
  }

  read(): Uint8Array {
    return this.data.slice(0, Atomics.load(this.header, 2));
  }

  post(state: number, sequence?: number): void {
    if (sequence !== undefined) Atomics.store(this.header, 1, sequence);
    Atomics.store(this.header, 0, state);
    Atomics.notify(this.header, 0);
  }

  /** Sleeps while the state is `state`, up to `timeoutMs`. Returns false on timeout. */
  waitWhile(state: number, timeoutMs: number): boolean {
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(this.header, 0) === state) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(this.header, 0, state, left);
    }
    return true;
  }
}
