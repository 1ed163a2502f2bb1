import {
  type KeyStore,
  type KeyStoreSettings,
  openKeyStore,
  openProvisionableDevice,
  spareKeySlots,
} from '../../keys/index.js';
import { keyStorePrivateKey } from '../../tls/index.js';

/** A key the lifecycle can sign with: the store and its EVP_PKEY for TLS. */
export interface LifecycleKey {
  store: KeyStore;
  privateKey: unknown;
}

/** The two spare key locations renewals alternate between (A/B). */
export type RotationSlot = 'a' | 'b';

/**
 * Fresh keys for renewals when identity.renewal.rotate_key is on. Two spare locations beside the
 * factory key, used in turn (A/B): the new key goes to the one the active certificate does not use,
 * so a failed or interrupted rotation never touches the key in use, and resources stay bounded (the
 * retired key is overwritten by the rotation after next). The factory key itself is never replaced:
 * it is what a re-bootstrap authenticates with.
 *   TPM: persistent handles persistent_handle + 1 (A) and + 2 (B), created under the storage primary.
 *   software (development): files <path>.rotated-a / <path>.rotated-b.
 *   ATECC608A: the two spare key slots provisioning configures beside the key slot (1 and 2 when
 *     the key is in slot 0), keys made by GenKey inside the part. A part provisioned before spare
 *     slots existed refuses with EGW_KEY_LOCKED at the first rotation.
 */
export class RotationKeyRing {
  readonly #settings: KeyStoreSettings;
  readonly #open = new Map<RotationSlot, LifecycleKey>();

  constructor(settings: KeyStoreSettings) {
    this.#settings = settings;
  }

  /** The spare location the active certificate's key does not use. */
  static nextSlot(activeRef: string | undefined): RotationSlot {
    return activeRef === 'a' ? 'b' : 'a';
  }

  /** Creates a fresh key in `slot` (replacing what was there) and opens it. */
  async create(slot: RotationSlot): Promise<LifecycleKey> {
    await this.#close(slot);
    const settings = this.#settingsFor(slot);
    // On the calling thread: a rare operation (one key generation per renewal), like provisioning.
    const device = await openProvisionableDevice(settings);
    try {
      device.connect();
      device.generateKey({ overwrite: true });
    } finally {
      device.close();
    }
    return this.key(slot);
  }

  /** The key in `slot`, opened once and kept. */
  async key(slot: RotationSlot): Promise<LifecycleKey> {
    const open = this.#open.get(slot);
    if (open) return open;
    const store = await openKeyStore(this.#settingsFor(slot));
    const key = { store, privateKey: keyStorePrivateKey(store, await store.publicKey()) };
    this.#open.set(slot, key);
    return key;
  }

  async close(): Promise<void> {
    for (const slot of [...this.#open.keys()]) await this.#close(slot);
  }

  async #close(slot: RotationSlot): Promise<void> {
    const open = this.#open.get(slot);
    this.#open.delete(slot);
    await open?.store.close();
  }

  #settingsFor(slot: RotationSlot): KeyStoreSettings {
    const offset = slot === 'a' ? 1 : 2;
    const s = this.#settings;
    return {
      ...s,
      tpm: { ...s.tpm, persistentHandle: s.tpm.persistentHandle + offset },
      atecc608: { ...s.atecc608, signingSlot: spareKeySlots(s.atecc608.keySlot)[offset - 1] as number },
      software: { path: `${s.software.path}.rotated-${slot}` },
    };
  }
}
