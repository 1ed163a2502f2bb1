import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The key of the stateless cookie exchange (RFC 6347 §4.2.1): cookie = HMAC-SHA256(secret, peer).
 *
 * Why rotate: a cookie proves the client can receive at its address, nothing more; a secret that never
 * changes lets a captured cookie be replayed forever. Cookies made with the previous secret stay valid
 * so a handshake that straddles a rotation still completes.
 */
export class CookieSecret {
  static readonly COOKIE_LENGTH = 32;

  #current: Buffer;
  #previous: Buffer | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(initial: Buffer = randomBytes(32)) {
    this.#current = initial;
  }

  /** Rotates every `intervalMs` until stop(); the timer does not keep the process alive. */
  start(intervalMs: number): void {
    this.stop();
    this.#timer = setInterval(() => this.rotate(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  rotate(next: Buffer = randomBytes(32)): void {
    this.#previous = this.#current;
    this.#current = next;
  }

  /** The cookie for `peer` (a canonical "family|address|port" string). */
  cookieFor(peer: string): Buffer {
    return mac(this.#current, peer);
  }

  /** Whether `cookie` was made for `peer` with the current or the previous secret. */
  verify(peer: string, cookie: Uint8Array): boolean {
    if (cookie.length !== CookieSecret.COOKIE_LENGTH) return false;
    if (timingSafeEqual(mac(this.#current, peer), cookie)) return true;
    return this.#previous !== undefined && timingSafeEqual(mac(this.#previous, peer), cookie);
  }
}

function mac(secret: Buffer, peer: string): Buffer {
  return createHmac('sha256', secret).update(peer).digest();
}
