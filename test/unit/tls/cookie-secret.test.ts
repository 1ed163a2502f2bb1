import { describe, expect, it } from 'vitest';
import { CookieSecret } from '../../../src/tls/dtls/cookie-secret.js';

describe('CookieSecret', () => {
  const peer = 'IPv4|192.0.2.7|5684';

  it('makes a 32-byte cookie bound to the peer address and port', () => {
    const secret = new CookieSecret(Buffer.alloc(32, 1));
    const cookie = secret.cookieFor(peer);
    expect(cookie).toHaveLength(CookieSecret.COOKIE_LENGTH);
    expect(secret.verify(peer, cookie)).toBe(true);
    expect(secret.verify('IPv4|192.0.2.7|5685', cookie)).toBe(false);
    expect(secret.verify('IPv4|192.0.2.8|5684', cookie)).toBe(false);
    expect(secret.verify(peer, cookie.subarray(0, 16))).toBe(false);
  });

  it('accepts cookies of the previous secret for one rotation, then no more', () => {
    const secret = new CookieSecret(Buffer.alloc(32, 1));
    const old = secret.cookieFor(peer);
    secret.rotate(Buffer.alloc(32, 2));
    expect(secret.verify(peer, old)).toBe(true);
    expect(secret.cookieFor(peer).equals(old)).toBe(false);
    secret.rotate(Buffer.alloc(32, 3));
    expect(secret.verify(peer, old)).toBe(false);
  });

  it('does not accept a cookie made with another secret', () => {
    const ours = new CookieSecret();
    const theirs = new CookieSecret();
    expect(ours.verify(peer, theirs.cookieFor(peer))).toBe(false);
  });
});
