import { describe, expect, it } from 'vitest';
import { SharedTicketKeys } from '../../../src/downstream/workers/shared-ticket-keys.js';
import { SessionTicketKeys } from '../../../src/tls/index.js';

/** What a worker receives: postMessage's structured clone turns the keys' Buffers into Uint8Arrays. */
const overPostMessage = <T>(value: T): T => structuredClone(value);

describe("SharedTicketKeys (a sensor worker's ticket keys: the main thread's ring)", () => {
  it("issues and finds with the main thread's key, as received over postMessage", () => {
    const main = new SessionTicketKeys({ lifetimeSeconds: 3600 });
    const issuing = main.issuing();
    const worker = new SharedTicketKeys(3600, overPostMessage(main.keys()));
    expect(Buffer.from(worker.issuing().name).equals(issuing.name)).toBe(true);
    expect(worker.find(issuing.name)?.key.hmacKey.equals(issuing.hmacKey)).toBe(true);
  });

  it('adopts a rotated ring: two workers issue under the same new key and both open the old one', () => {
    // The old key made a second ago: the rotated one (1 ms younger) must not lie in the future, or
    // the ring sets it aside as not yet valid (this test failed whenever it ran within the same ms).
    const first = new SessionTicketKeys({ lifetimeSeconds: 3600, now: () => Date.now() - 1000 });
    const old = first.issuing();
    const a = new SharedTicketKeys(3600, overPostMessage(first.keys()));
    const b = new SharedTicketKeys(3600, overPostMessage(first.keys()));
    // The main thread's rotation: a new key, the old one kept to decrypt.
    const fresh = { ...old, name: Buffer.alloc(16, 7), createdAt: old.createdAt + 1 };
    const rotated = overPostMessage([fresh, old]);
    a.adopt(rotated);
    b.adopt(rotated);
    expect(a.issuing().name).toEqual(fresh.name);
    expect(b.issuing().name).toEqual(fresh.name);
    expect(a.find(old.name)?.renew).toBe(true);
    expect(b.find(fresh.name)?.renew).toBe(false);
  });
});
