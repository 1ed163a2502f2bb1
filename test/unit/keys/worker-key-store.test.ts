import { afterEach, describe, expect, it } from 'vitest';
import { WorkerKeyStore } from '../../../src/keys/index.js';

const deviceModule = new URL('../../fixtures/instrumented-key-device.mjs', import.meta.url).href;
const stores: WorkerKeyStore[] = [];
async function open(delayMs: number, callTimeoutMs = 10_000, entered?: Int32Array) {
  const params = { delayMs, ...(entered ? { entered: entered.buffer } : {}) };
  const store = await WorkerKeyStore.open('atecc608', params, { callTimeoutMs, deviceModule });
  stores.push(store);
  return store;
}
const digest = (mode: number, tag: number) => {
  const bytes = new Uint8Array(32);
  bytes[0] = mode;
  bytes[1] = tag;
  return bytes;
};

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

describe('WorkerKeyStore', () => {
  it('keeps the event loop turning while the device works on a signature', async () => {
    const store = await open(150);
    let ticks = 0;
    let spinning = true;
    const spin = () => {
      ticks++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const signature = await store.signDigest(digest(0, 7));
    spinning = false;
    expect(Array.from(signature)).toEqual([1, 7]);
    // A blocked loop would have turned at most once or twice; a free one turns continuously.
    expect(ticks).toBeGreaterThan(20);
  });

  it('serializes calls: a synchronous signature waits behind the call already in the device', async () => {
    const entered = new Int32Array(new SharedArrayBuffer(4));
    const store = await open(100, 10_000, entered);
    const first = store.signDigest(digest(0, 1));
    // Only once the first call is inside the device: until then the two calls may reach the worker
    // in either order (postMessage and the shared-memory channel are separate queues).
    await Atomics.waitAsync(entered, 0, 0).value;
    const second = store.signDigestSync(digest(0, 2));
    expect(Array.from(await first)).toEqual([1, 1]);
    expect(Array.from(second)).toEqual([2, 2]);
  });

  it('passes a device failure through with its message', async () => {
    const store = await open(0);
    await expect(store.signDigest(digest(2, 9))).rejects.toMatchObject({
      code: 'EGW_KEY_DEVICE_ERROR',
      message: 'device refused digest 9',
    });
    expect(() => store.signDigestSync(digest(2, 8))).toThrow('device refused digest 8');
    expect(Array.from(await store.signDigest(digest(0, 1)))).toEqual([3, 1]);
  });

  it('times out a hung device, replaces the worker and re-opens the device for the next call', async () => {
    const store = await open(0, 300);
    await expect(store.signDigest(digest(1, 0))).rejects.toMatchObject({
      code: 'EGW_KEY_TIMEOUT',
      message: 'atecc608 key device did not answer signDigest within 300 ms',
    });
    expect(Array.from(await store.publicKey())).toEqual([1]); // a fresh worker: its device opened once
    expect(Array.from(await store.signDigest(digest(0, 5)))).toEqual([1, 5]);
  });

  it('times out a hung synchronous call the same way', async () => {
    const store = await open(0, 300);
    expect(() => store.signDigestSync(digest(1, 0))).toThrow(
      expect.objectContaining({
        code: 'EGW_KEY_TIMEOUT',
        message: 'atecc608 key device did not answer signDigestSync within 300 ms',
      }),
    );
    expect(Array.from(store.signDigestSync(digest(0, 6)))).toEqual([1, 6]);
  });

  it('refuses a digest that is not 32 bytes, and calls after close', async () => {
    const store = await open(0);
    await expect(store.signDigest(new Uint8Array(31))).rejects.toMatchObject({ code: 'EGW_KEY_BAD_DIGEST' });
    await store.close();
    await expect(store.signDigest(digest(0, 0))).rejects.toMatchObject({ code: 'EGW_KEY_CLOSED' });
  });
});
