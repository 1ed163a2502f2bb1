import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SharedBusLock } from '../../../src/keys/atecc608/index.js';

const builtLock = new URL('../../../dist/src/keys/atecc608/shared-bus-lock.js', import.meta.url).href;

/** A worker thread that takes the lock on `buffer`, records what `cells[0]` says, and releases. */
function contender(buffer: SharedArrayBuffer, marks: SharedArrayBuffer): Promise<number> {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.module).then(({ SharedBusLock }) => {
      const lock = new SharedBusLock(workerData.buffer);
      const marks = new Int32Array(workerData.marks);
      Atomics.store(marks, 1, 1); // about to wait
      Atomics.notify(marks, 1);
      lock.acquire();
      const seen = Atomics.load(marks, 0);
      lock.release();
      parentPort.postMessage(seen);
    });`;
  const worker = new Worker(code, { eval: true, workerData: { module: builtLock, buffer, marks } });
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

describe('SharedBusLock (ATECC608A operations of several threads on one part)', () => {
  it('makes another thread wait until the holder releases', async () => {
    const buffer = SharedBusLock.createBuffer();
    const marks = new Int32Array(new SharedArrayBuffer(8));
    const holder = new SharedBusLock(buffer);
    holder.acquire();
    const seen = contender(buffer, marks.buffer as SharedArrayBuffer);
    // Let the worker reach acquire() before the holder finishes its "operation".
    while (Atomics.load(marks, 1) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    Atomics.store(marks, 0, 42); // the end of the holder's operation
    holder.release();
    expect(await seen).toBe(42);
  });

  it('tells a holder whether another one used the part since its last turn', () => {
    const buffer = SharedBusLock.createBuffer();
    const one = new SharedBusLock(buffer);
    const two = new SharedBusLock(buffer);
    expect(one.acquire()).toBe(true);
    one.release();
    expect(one.acquire()).toBe(false);
    one.release();
    expect(two.acquire()).toBe(true);
    two.release();
    expect(one.acquire()).toBe(true);
    one.release();
  });

  it('takes over a lock whose holder never released it (a worker terminated mid-operation)', () => {
    const buffer = SharedBusLock.createBuffer();
    new SharedBusLock(buffer).acquire(); // and never released
    const next = new SharedBusLock(buffer, { leaseMs: 20 });
    expect(next.acquire()).toBe(true);
    next.release();
  });

  it('refuses a buffer that is not an 8-byte SharedArrayBuffer', () => {
    expect(() => new SharedBusLock(new SharedArrayBuffer(4))).toThrow(/8-byte SharedArrayBuffer/);
  });
});
