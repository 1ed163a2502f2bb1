import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SessionTicketKeys, type TicketKey } from '../../../src/tls/dtls/session-ticket-keys.js';

/** A ticket as OpenSSL lays it out: name | IV | ciphertext | HMAC-SHA256(name | IV | ciphertext). */
function ticketUnder(key: TicketKey, body = randomBytes(160)): Buffer {
  const signed = Buffer.concat([key.name, randomBytes(16), body]);
  return Buffer.concat([signed, createHmac('sha256', key.hmacKey).update(signed).digest()]);
}

describe('SessionTicketKeys', () => {
  it('recognizes its own tickets by key name and HMAC, nothing else', () => {
    const keys = new SessionTicketKeys({ lifetimeSeconds: 60 });
    const key = keys.issuing();
    const ticket = ticketUnder(key);
    expect(keys.recognizes(ticket)).toBe(true);
    const flipped = Buffer.from(ticket);
    flipped[40] = (flipped[40] as number) ^ 1;
    expect(keys.recognizes(flipped)).toBe(false);
    expect(keys.recognizes(randomBytes(ticket.length))).toBe(false);
    // Our key name, a body and HMAC made up: still not ours.
    expect(keys.recognizes(Buffer.concat([key.name, randomBytes(ticket.length - 16)]))).toBe(false);
    const stranger = new SessionTicketKeys({ lifetimeSeconds: 60 }).issuing();
    expect(keys.recognizes(ticketUnder(stranger))).toBe(false);
    expect(keys.recognizes(Buffer.alloc(0))).toBe(false);
  });

  it('rotates after one lifetime; the previous key decrypts (renewing) for one more, then is gone', () => {
    let now = 1_000_000;
    const changes: number[] = [];
    const keys = new SessionTicketKeys({
      lifetimeSeconds: 100,
      now: () => now,
      changed: (ring) => changes.push(ring.length),
    });
    const first = keys.issuing();
    const old = ticketUnder(first);
    now += 50_000;
    expect(keys.issuing()).toBe(first);
    expect(keys.find(first.name)?.renew).toBe(false);
    now += 60_000; // 110 s: past one lifetime
    const second = keys.issuing();
    expect(second.name.equals(first.name)).toBe(false);
    expect(changes).toEqual([1, 2]);
    expect(keys.recognizes(old)).toBe(true);
    expect(keys.find(first.name)?.renew).toBe(true);
    now += 95_000; // 205 s: the first key is two lifetimes old
    expect(keys.recognizes(old)).toBe(false);
    expect(keys.find(first.name)).toBeUndefined();
  });

  it('takes persisted keys back, dropping those too old to decrypt and malformed ones', () => {
    const now = 10_000_000;
    const key = (ageSeconds: number): TicketKey => ({
      name: randomBytes(16),
      hmacKey: randomBytes(32),
      aesKey: randomBytes(32),
      createdAt: now - ageSeconds * 1000,
    });
    const fresh = key(10);
    const previous = key(150);
    const stale = key(250);
    const keys = new SessionTicketKeys({
      lifetimeSeconds: 100,
      now: () => now,
      keys: [stale, previous, { ...key(5), aesKey: randomBytes(8) }, fresh],
    });
    expect(keys.keys().map((k) => k.name)).toEqual([fresh.name, previous.name]);
    expect(keys.issuing()).toBe(fresh);
    expect(keys.recognizes(ticketUnder(previous))).toBe(true);
    expect(keys.recognizes(ticketUnder(stale))).toBe(false);
  });
});
