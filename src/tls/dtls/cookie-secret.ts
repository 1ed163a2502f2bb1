import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hmac } from '../../native/openssl/libcrypto-hmac.js';
import type { ClientHelloFields } from './client-hello.js';

/**
 * The stateless cookie of the DTLS cookie exchange (RFC 6347 §4.2.1):
 *   cookie = HMAC-SHA256(secret, time slot | family|address|port | client_version | random |
 *                        session_id | cipher_suites | compression_methods)
 *
 * Why these inputs: a cookie proves the client receives at its address; binding it to the ClientHello
 * parameters the client must repeat (§4.2.1) and to a short time slot makes a captured cookie useless
 * for any other ClientHello, and soon for the same one. A cookie is accepted during its own slot and
 * the next, i.e. for `slotMs` to 2 × `slotMs`: long enough for a client on a lossy link to answer the
 * HelloVerifyRequest (it retransmits after 1 s, then 2, 4 …), short enough that a replay window stays
 * small. The secret lives in memory only and is never rotated: the slot is in the MAC.
 */
/** Slot (8), client version (2), and the lengths of session id (1), suites (2), compression (1). */
const FIXED_BYTES = 8 + 2 + 1 + 2 + 1;

export class CookieSecret {
  static readonly COOKIE_LENGTH = 32;

  readonly #secret: Buffer;
  readonly #slotMs: number;
  readonly #now: () => number;

  constructor(slotMs: number, secret: Buffer = randomBytes(32), now: () => number = Date.now) {
    this.#slotMs = slotMs;
    this.#secret = secret;
    this.#now = now;
  }

  /** The cookie for a ClientHello from `peer` (a canonical "family|address|port" string). */
  cookieFor(peer: string, hello: ClientHelloFields): Buffer {
    return this.#mac(this.#slot(), peer, hello);
  }

  /** Whether `hello.cookie` was made for this peer and these parameters in this slot or the previous. */
  verify(peer: string, hello: ClientHelloFields): boolean {
    const cookie = hello.cookie;
    if (cookie.length !== CookieSecret.COOKIE_LENGTH) return false;
    const slot = this.#slot();
    if (timingSafeEqual(this.#mac(slot, peer, hello), cookie)) return true;
    return timingSafeEqual(this.#mac(slot - 1, peer, hello), cookie);
  }

  #slot(): number {
    return Math.floor(this.#now() / this.#slotMs);
  }

  #mac(slot: number, peer: string, hello: ClientHelloFields): Buffer {
    const { random, sessionId, cipherSuites, compressionMethods } = hello;
    const variable = random.length + sessionId.length + cipherSuites.length + compressionMethods.length;
    // One MAC input (one native HMAC call): fixed fields, the ClientHello's, then the peer.
    const input = Buffer.allocUnsafe(FIXED_BYTES + variable + Buffer.byteLength(peer));
    input.writeBigUInt64BE(BigInt(slot), 0);
    input.writeUInt16BE(hello.clientVersion, 8);
    // Lengths keep the variable fields apart (no two field splits give the same MAC input).
    input[10] = sessionId.length;
    input.writeUInt16BE(cipherSuites.length, 11);
    input[13] = compressionMethods.length;
    let at = FIXED_BYTES;
    for (const field of [random, sessionId, cipherSuites, compressionMethods]) {
      input.set(field, at);
      at += field.length;
    }
    input.write(peer, at, 'utf8');
    return hmac('sha256', this.#secret, input);
  }
}
