import koffi from 'koffi';
import { libssl, type Pointer, SSL_CTRL } from '../../native/openssl/libssl.js';

/** SSL_SESS_CACHE_SERVER | NO_INTERNAL_LOOKUP | NO_INTERNAL_STORE (openssl/ssl.h). */
const SERVER_EXTERNAL_ONLY = 0x0002 | 0x0100 | 0x0200;

interface Bindings {
  setNew(ctx: Pointer, callback: bigint): void;
  setGet(ctx: Pointer, callback: bigint): void;
  setRemove(ctx: Pointer, callback: bigint): void;
  /** i2d_SSL_SESSION(session, NULL): the DER length. */
  derLength(session: bigint | Pointer, none: null): number;
  /** i2d_SSL_SESSION(session, &p): writes at p (a Buffer), advances p. */
  toDer(session: bigint | Pointer, out: [Buffer]): number;
  /** d2i_SSL_SESSION(NULL, &p, length): a new SSL_SESSION (one reference), or NULL. */
  fromDer(none: null, input: [Buffer], length: number): bigint | null;
  getId(session: bigint | Pointer, length: [number]): bigint | null;
  register(callback: (...args: never[]) => unknown, prototype: string): bigint;
}

let bound: Bindings | undefined;

function bindings(): Bindings {
  if (bound) return bound;
  libssl(); // declares SSL, SSL_CTX, SSL_SESSION
  const lib = koffi.load(null as unknown as string);
  koffi.proto('int egw_sess_new_cb(SSL *ssl, SSL_SESSION *session)');
  koffi.proto('SSL_SESSION *egw_sess_get_cb(SSL *ssl, const uint8_t *id, int length, int *copy)');
  koffi.proto('void egw_sess_remove_cb(SSL_CTX *ctx, SSL_SESSION *session)');
  const f = (signature: string) => lib.func(signature);
  bound = {
    setNew: f('void SSL_CTX_sess_set_new_cb(SSL_CTX *, egw_sess_new_cb *)'),
    setGet: f('void SSL_CTX_sess_set_get_cb(SSL_CTX *, egw_sess_get_cb *)'),
    setRemove: f('void SSL_CTX_sess_set_remove_cb(SSL_CTX *, egw_sess_remove_cb *)'),
    derLength: lib.func('i2d_SSL_SESSION', 'int', ['SSL_SESSION *', 'void *']),
    toDer: f('int i2d_SSL_SESSION(SSL_SESSION *, _Inout_ void **)'),
    fromDer: f('SSL_SESSION *d2i_SSL_SESSION(void *, _Inout_ void **, long)'),
    getId: f('const void *SSL_SESSION_get_id(const SSL_SESSION *, _Out_ unsigned int *)'),
    register: (callback, prototype) => koffi.register(callback, koffi.pointer(prototype)),
  } as Bindings;
  return bound;
}

/**
 * The server's session-id cache (for resumption by session id, RFC 5246 §7.4.1.2) kept as DER in JS
 * instead of OpenSSL's internal cache of live SSL_SESSION objects.
 *
 * Why: an SSL_SESSION in OpenSSL's cache holds the peer's certificate parsed (X509 with its EVP_PKEY,
 * extensions cached) besides the secrets; measured on OpenSSL 3.5.9, RSS per idle session of the bare
 * endpoint at 3,000 sessions was 16.7 KB with the internal cache and 6.8 KB without any cache. Its DER
 * (i2d_SSL_SESSION: secrets, cipher, times, peer certificate) is ~0.6–0.9 KB. A resumption parses it
 * back (d2i), which costs a certificate parse per abbreviated handshake.
 *
 * The entries are OpenSSL's own serialization (it checks the session's timeout and id context when
 * it gets one back); at most `size`, the oldest dropped first, and none kept past `timeoutSeconds`.
 */
export class DerSessionCache {
  readonly #entries = new Map<string, { der: Buffer; expiresAt: number }>();
  readonly #size: number;
  readonly #timeoutMs: number;

  constructor(size: number, timeoutSeconds: number) {
    this.#size = size;
    this.#timeoutMs = timeoutSeconds * 1000;
  }

  /** Makes `ctx` keep its server sessions here; returns the callbacks to unregister when it is freed. */
  attach(ctx: Pointer): bigint[] {
    const b = bindings();
    libssl().SSL_CTX_ctrl(ctx, SSL_CTRL.SET_SESS_CACHE_MODE, SERVER_EXTERNAL_ONLY, null);
    const added = b.register(
      ((_ssl: bigint, session: bigint) => this.#added(session)) as never,
      'egw_sess_new_cb',
    );
    const get = b.register(
      ((_ssl: bigint, id: bigint, length: number, copy: bigint) => this.#get(id, length, copy)) as never,
      'egw_sess_get_cb',
    );
    const removed = b.register(
      ((_ctx: bigint, session: bigint) => this.#removed(session)) as never,
      'egw_sess_remove_cb',
    );
    b.setNew(ctx, added);
    b.setGet(ctx, get);
    b.setRemove(ctx, removed);
    return [added, get, removed];
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The DER bytes held (what the entries cost besides their Map slots). */
  get bytes(): number {
    let bytes = 0;
    for (const entry of this.#entries.values()) bytes += entry.der.length;
    return bytes;
  }

  /** Drops the session of `id` (hex), e.g. one the trust hook refused on resumption. */
  forget(idHex: string): void {
    this.#entries.delete(idHex);
  }

  // Callbacks run inside SSL calls: they never throw into C.

  /** A full handshake completed: keep the session's DER. 0: OpenSSL keeps its reference. */
  #added(session: bigint): number {
    try {
      const id = idOf(session);
      const b = bindings();
      const length = b.derLength(session, null);
      if (!id || length <= 0) return 0;
      const der = Buffer.alloc(length);
      if (b.toDer(session, [der]) !== length) return 0;
      const now = Date.now();
      this.#entries.delete(id);
      this.#entries.set(id, { der, expiresAt: now + this.#timeoutMs });
      for (const [oldest, entry] of this.#entries) {
        if (this.#entries.size <= this.#size && entry.expiresAt > now) break;
        this.#entries.delete(oldest);
      }
    } catch {
      // not cached: the sensor makes a full handshake next time
    }
    return 0;
  }

  /** A ClientHello offers session id `id`: a fresh SSL_SESSION whose one reference OpenSSL takes. */
  #get(idPointer: bigint, length: number, copy: bigint): bigint | null {
    try {
      koffi.encode(copy, 'int', 0);
      const id = Buffer.from(koffi.view(idPointer, length)).toString('hex');
      const entry = this.#entries.get(id);
      if (!entry) return null;
      if (entry.expiresAt <= Date.now()) {
        this.#entries.delete(id);
        return null;
      }
      return bindings().fromDer(null, [entry.der], entry.der.length);
    } catch {
      return null;
    }
  }

  /** OpenSSL dropped a session (a bad one freed without shutdown, SSL_CTX_remove_session). */
  #removed(session: bigint): void {
    try {
      const id = idOf(session);
      if (id) this.#entries.delete(id);
    } catch {
      // nothing to report back to OpenSSL
    }
  }
}

function idOf(session: bigint): string | undefined {
  const length: [number] = [0];
  const id = bindings().getId(session, length);
  if (id === null || length[0] === 0) return undefined;
  return Buffer.from(koffi.view(id, length[0])).toString('hex');
}
