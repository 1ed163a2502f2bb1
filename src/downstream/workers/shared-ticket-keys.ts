import { SessionTicketKeys, type TicketKey } from '../../tls/index.js';

/**
 * A sensor worker's ticket keys: the main thread's ring, adopted whenever the main thread rotates it,
 * so every worker issues and opens the same tickets and a sensor the kernel moves to another worker
 * (the set of sockets changed) resumes there. The main thread rotates (and persists); a worker rotates
 * on its own only if the main thread's new ring is late, and the key it makes then is replaced at the
 * next adoption (its tickets cost a full handshake, nothing else). Refused tickets stay per worker.
 */
export class SharedTicketKeys extends SessionTicketKeys {
  #ring: SessionTicketKeys;

  constructor(lifetimeSeconds: number, keys: readonly TicketKey[]) {
    super({ lifetimeSeconds });
    this.#ring = new SessionTicketKeys({ lifetimeSeconds, keys: keys.map(asBuffers) });
  }

  adopt(keys: readonly TicketKey[]): void {
    this.#ring = new SessionTicketKeys({ lifetimeSeconds: this.lifetimeSeconds, keys: keys.map(asBuffers) });
  }

  override issuing(): TicketKey {
    return this.#ring.issuing();
  }

  override find(name: Uint8Array): { key: TicketKey; renew: boolean } | undefined {
    return this.#ring.find(name);
  }

  override keys(): readonly TicketKey[] {
    return this.#ring.keys();
  }
}

/** postMessage turns Buffers into plain Uint8Arrays: the ring compares names with Buffer.equals. */
function asBuffers(key: TicketKey): TicketKey {
  const buffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    name: buffer(key.name),
    hmacKey: buffer(key.hmacKey),
    aesKey: buffer(key.aesKey),
    createdAt: key.createdAt,
  };
}
