import { describe, expect, it } from 'vitest';
import {
  type ClientHelloFields,
  helloVerifyRequest,
  parseClientHello,
} from '../../../src/tls/dtls/client-hello.js';
import { CookieSecret } from '../../../src/tls/dtls/cookie-secret.js';
import { clientHello, cookieOf } from '../../helpers/dtls-pki.js';

const peer = 'IPv4|192.0.2.7|5684';
const SLOT = 30_000;

function hello(cookie: Uint8Array = new Uint8Array(0)): ClientHelloFields {
  return parseClientHello(clientHello(cookie)) as ClientHelloFields;
}

/** The same ClientHello as `base` but with `field` changed. */
function changed(
  base: ClientHelloFields,
  field: keyof ClientHelloFields,
  value: Buffer | number,
): ClientHelloFields {
  return { ...base, [field]: value };
}

describe('CookieSecret', () => {
  it('makes a 32-byte cookie bound to the address, port and ClientHello parameters (RFC 6347 §4.2.1)', () => {
    const now = { t: 1_000_000 };
    const secret = new CookieSecret(SLOT, Buffer.alloc(32, 1), () => now.t);
    const first = hello();
    const cookie = secret.cookieFor(peer, first);
    expect(cookie).toHaveLength(CookieSecret.COOKIE_LENGTH);
    const answer = { ...first, cookie };
    expect(secret.verify(peer, answer)).toBe(true);
    expect(secret.verify('IPv4|192.0.2.7|5685', answer)).toBe(false);
    expect(secret.verify('IPv4|192.0.2.8|5684', answer)).toBe(false);
    expect(secret.verify(peer, { ...answer, cookie: cookie.subarray(0, 16) })).toBe(false);
    // any parameter the client must repeat, changed
    expect(secret.verify(peer, changed(answer, 'random', Buffer.alloc(32, 8)))).toBe(false);
    expect(secret.verify(peer, changed(answer, 'sessionId', Buffer.alloc(32, 1)))).toBe(false);
    expect(secret.verify(peer, changed(answer, 'cipherSuites', Buffer.from([0xc0, 0xae])))).toBe(false);
    expect(secret.verify(peer, changed(answer, 'compressionMethods', Buffer.from([1, 0])))).toBe(false);
    expect(secret.verify(peer, changed(answer, 'clientVersion', 0xfeff))).toBe(false);
  });

  it('accepts a cookie in its time slot and the next, then no more', () => {
    const now = { t: 10 * SLOT };
    const secret = new CookieSecret(SLOT, Buffer.alloc(32, 1), () => now.t);
    const answer = { ...hello(), cookie: secret.cookieFor(peer, hello()) };
    now.t = 11 * SLOT - 1;
    expect(secret.verify(peer, answer)).toBe(true);
    now.t = 12 * SLOT - 1;
    expect(secret.verify(peer, answer)).toBe(true);
    now.t = 12 * SLOT;
    expect(secret.verify(peer, answer)).toBe(false);
  });

  it('does not accept a cookie made with another secret', () => {
    const ours = new CookieSecret(SLOT);
    const theirs = new CookieSecret(SLOT);
    expect(ours.verify(peer, { ...hello(), cookie: theirs.cookieFor(peer, hello()) })).toBe(false);
  });
});

describe('ClientHello parsing and the HelloVerifyRequest', () => {
  it('reads the fields the cookie binds, and the cookie', () => {
    const parsed = hello(Buffer.alloc(32, 0xab));
    expect(parsed.clientVersion).toBe(0xfefd);
    expect(parsed.random).toEqual(Buffer.alloc(32, 7));
    expect(parsed.sessionId).toHaveLength(0);
    expect(parsed.cookie).toEqual(Buffer.alloc(32, 0xab));
    expect(parsed.cipherSuites).toEqual(Buffer.from([0xc0, 0x2b]));
    expect(parsed.compressionMethods).toEqual(Buffer.from([0]));
  });

  it('refuses bodies whose vectors run past the record', () => {
    const datagram = clientHello();
    expect(parseClientHello(datagram.subarray(0, 13 + 12 + 40))).toBeUndefined();
    const badSessionId = Buffer.from(datagram);
    badSessionId[13 + 12 + 34] = 33; // session ids are at most 32 bytes
    expect(parseClientHello(badSessionId)).toBeUndefined();
  });

  it('answers with the cookie, DTLS 1.0 versions and the ClientHello record sequence (as OpenSSL does)', () => {
    const datagram = clientHello(new Uint8Array(0), 5);
    const cookie = Buffer.alloc(32, 0x5a);
    const reply = helloVerifyRequest(parseClientHello(datagram) as ClientHelloFields, cookie);
    expect(reply).toHaveLength(60);
    expect(reply[0]).toBe(22);
    expect(reply.readUInt16BE(1)).toBe(0xfeff);
    expect(reply.readUIntBE(5, 6)).toBe(5);
    expect(reply[13]).toBe(3);
    expect(cookieOf(reply)).toEqual(cookie);
  });
});
