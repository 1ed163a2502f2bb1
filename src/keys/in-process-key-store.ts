import type { KeyDevice } from './key-device.js';
import { KeyError } from './key-error.js';
import type { HealthReport, KeyStore, KeyStoreInfo } from './key-store.js';
import { signVerifyRoundTrip } from './round-trip-check.js';

/**
 * A KeyStore that calls its device on the calling thread. Only for devices that never block
 * (the software key: ~40 µs per signature); hardware goes through WorkerKeyStore.
 */
export class InProcessKeyStore implements KeyStore {
  readonly info: KeyStoreInfo;
  #device: KeyDevice | undefined;

  constructor(device: KeyDevice) {
    this.info = device.open();
    this.#device = device;
  }

  async publicKey(): Promise<Uint8Array> {
    return this.#open().publicKey();
  }

  async signDigest(digest: Uint8Array): Promise<Uint8Array> {
    return this.signDigestSync(digest);
  }

  signDigestSync(digest: Uint8Array): Uint8Array {
    if (digest.length !== 32) {
      throw new KeyError(
        'EGW_KEY_BAD_DIGEST',
        `expected a 32-byte SHA-256 digest, got ${digest.length} bytes`,
      );
    }
    return this.#open().signDigest(digest);
  }

  async certificates(): Promise<{ device?: Uint8Array; signer?: Uint8Array }> {
    return this.#open().readCertificates();
  }

  async healthCheck(): Promise<HealthReport> {
    const checks = [
      await signVerifyRoundTrip(
        () => this.publicKey(),
        (d) => this.signDigest(d),
      ),
    ];
    checks.push(...(this.#open().healthChecks?.() ?? []));
    return { ok: checks.every((check) => check.ok), checks };
  }

  async close(): Promise<void> {
    this.#device?.close();
    this.#device = undefined;
  }

  #open(): KeyDevice {
    if (!this.#device) throw new KeyError('EGW_KEY_CLOSED', 'key store is closed');
    return this.#device;
  }
}
