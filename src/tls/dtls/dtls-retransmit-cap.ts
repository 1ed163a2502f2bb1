import koffi from 'koffi';
import { libssl, type Pointer } from '../../native/openssl/libssl.js';

/**
 * DTLS_set_timer_cb: the handshake retransmission timer of one SSL, doubling from 1 s (RFC 6347
 * §4.2.4.1) but capped at `capMs` instead of OpenSSL's 60 s. A client that began its handshake while
 * the server was away (restarting) then tries again within `capMs` of its return, not up to a minute
 * later. Callbacks are registered once per cap and never unregistered (OpenSSL keeps the pointer).
 */
const registered = new Map<number, bigint>();
let setTimerCallback: ((ssl: Pointer, callback: bigint) => void) | undefined;

export function capRetransmitTimer(ssl: Pointer, capMs: number): void {
  if (!setTimerCallback) {
    libssl(); // declares SSL
    koffi.proto('unsigned int egw_dtls_timer_cb(SSL *ssl, unsigned int timer_us)');
    setTimerCallback = koffi
      .load(null as unknown as string)
      .func('void DTLS_set_timer_cb(SSL *, egw_dtls_timer_cb *)');
  }
  let callback = registered.get(capMs);
  if (callback === undefined) {
    const capUs = capMs * 1000;
    // timer_us 0: the first flight (1 s, or less under a lower cap); then double up to the cap.
    callback = koffi.register(
      (_ssl: bigint, timerUs: number) =>
        timerUs === 0 ? Math.min(1_000_000, capUs) : Math.min(timerUs * 2, capUs),
      'egw_dtls_timer_cb *',
    ) as bigint;
    registered.set(capMs, callback);
  }
  setTimerCallback(ssl, callback);
}
