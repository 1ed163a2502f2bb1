/**
 * The identity key in an ATECC608A secure element, as a ProvisionableKeyDevice.
 *
 * Runs synchronously: inside the key device worker for the daemon, on the calling thread for the
 * provisioning CLI. `i2cBus` swaps /dev/i2c-N for another bus, named as a module: the daemon passes
 * the simulator's there when the config asks for it (daemon/simulated-atecc608-bus.ts).
 *
 * Data zone layout written by provisioning (the config zone is prepared to match before it is
 * locked; a part whose config was locked otherwise is refused with EGW_KEY_LOCKED):
 *
 *   key slot (`keySlot`, 0–7, default 0)  P-256 private key, created inside the part by GenKey and
 *       never readable. SlotConfig 0x2083 (secret; external and internal signatures; GenKey allowed
 *       after the data lock), KeyConfig 0x0033 (private, public info, P-256, lockable).
 *   two spare key slots (the lowest two of 0–7 other than the key slot: 1 and 2 by default)
 *       configured like the key slot and left empty: renewals with identity.renewal.rotate_key
 *       create fresh keys there (GenKey after the data lock), A/B, never touching the factory key.
 *       A device opened with `signingSlot` = a spare slot signs with that key.
 *   every other slot, in the order 8, 9–15, 0–7   the factory certificates, as one record (format in
 *       certificate-record.ts): a 16-byte header (magic "EGWC", version, flags, the two DER
 *       lengths, payload length, truncated SHA-256) then device DER ‖ signer DER, raw DEFLATE-
 *       compressed when that is smaller. Capacity 1,100 bytes (416 + 7 × 72 + 5 × 36). Measured with
 *       scripts/factory-ca.sh certificates: 597 B device + 503 B signer deflate to 748 B (the
 *       device certificate's issuer repeats its signer's subject), a 764-byte record.
 *       SlotConfig 0x2000 (clear read; Write allowed until the data lock, never after), KeyConfig
 *       0x003C (data). Parts provisioned before spare key slots existed carry a version-1 record
 *       that also uses the spare slots; it is still read, but such parts cannot rotate keys.
 *
 * This deviates from the seeds' "device certificate in slot 10, signer in slot 11": 72-byte slots
 * hold only the part's own compressed-certificate format, which needs per-issuer templates; a
 * length-prefixed DER record rebuilds any certificate byte for byte. The data lock freezes the
 * certificates (factory identity is immutable; operational certificates live on disk).
 *
 * The part refuses GenKey and data writes until its config zone is locked, so generateKey() and
 * storeCertificates() lock the config zone (after writing the layout above) when it is still open.
 * lock() then locks the data zone, once the key and the certificates are in place.
 */
import { createRequire } from 'node:module';
import type { FactoryCertificates, ProvisionableKeyDevice } from '../key-device.js';
import { KeyError } from '../key-error.js';
import type { KeyStoreInfo } from '../key-store.js';
import { Atecc608Driver, slotSize } from './atecc608-driver.js';
import { isBusModule, type LabelledBus, openBusModule } from './bus-module.js';
import {
  certificateCapacity,
  certificateSlots,
  decodeCertificates,
  encodeCertificates,
  RECORD_HEADER_BYTES,
  recordHeader,
  spareKeySlots,
} from './certificate-record.js';
import type { I2cBusLike, I2cBusModule } from './i2c-bus-like.js';
import { SharedBusLock } from './shared-bus-lock.js';
import { Atecc608StatusError } from './status.js';

export interface Atecc608DeviceParams {
  /** N of /dev/i2c-N. */
  bus: number;
  /** 7-bit I2C address (0x60 by default on the part). */
  address: number;
  /** Slot of the factory identity key, 0–7; the layout of the other slots follows from it. */
  keySlot: number;
  /** Slot this device signs with and creates keys in: keySlot (default) or one of its spare key slots. */
  signingSlot?: number;
  /** Shared by every thread of this process that opens the part (see SharedBusLock). */
  busLock?: SharedArrayBuffer;
  /** Another bus than /dev/i2c-N (the simulator's): then the key is not hardware-backed. */
  i2cBus?: I2cBusModule;
}

const KEY_SLOT_CONFIG = 0x2083;
const KEY_KEY_CONFIG = 0x0033;
const CERT_SLOT_CONFIG = 0x2000;
const CERT_KEY_CONFIG = 0x003c;
/** SlotConfig WriteConfig bit 1: GenKey allowed after the data lock. */
const GENKEY_ALLOWED = 0x2000;
/** SPKI DER prefix of an uncompressed P-256 public key; X‖Y follows. */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex');

export function createDevice(params: Atecc608DeviceParams): Atecc608KeyDevice {
  return new Atecc608KeyDevice(params);
}

export class Atecc608KeyDevice implements ProvisionableKeyDevice {
  readonly params: Atecc608DeviceParams;
  #driver: Atecc608Driver | undefined;
  #info: KeyStoreInfo | undefined;
  #spki: Uint8Array | undefined;
  #busLabel: string | undefined;

  readonly #openBus: (spec: I2cBusModule, where: string) => LabelledBus;

  /**
   * `options.openBus` opens params.i2cBus on this thread instead of loading its module: for callers
   * that hold the bus implementation already (tests running on TypeScript sources, where loading the
   * built module would load a second copy of the native bindings).
   */
  constructor(
    params: Atecc608DeviceParams,
    options: { openBus?: (spec: I2cBusModule, where: string) => LabelledBus } = {},
  ) {
    this.params = checkParams(params);
    this.#openBus = options.openBus ?? openBusModule;
  }

  connect(): KeyStoreInfo {
    const driver = this.#connected();
    if (!this.#info) {
      const revision = driver.info();
      const number = ((revision[2] ?? 0) << 8) | (revision[3] ?? 0);
      const part = `${number >= 0x6003 ? 'ATECC608B' : 'ATECC608A'} rev 0x${number.toString(16).padStart(4, '0')}`;
      // Only /dev/i2c-N reaches a real part: a bus from a module (the simulator, which keeps its
      // "private" key in a state file) must never pass for hardware.
      const simulated = this.params.i2cBus !== undefined;
      this.#info = {
        backend: 'atecc608',
        hardwareBacked: !simulated,
        model: simulated ? `${part} (${this.#busLabel ?? 'simulated bus'})` : part,
        serial: driver.serialNumber().toUpperCase(),
        keyLocation: `slot ${this.#signingSlot}`,
        ...(simulated
          ? { simulated: 'the ATECC608A simulator keeps its "private" key in its state file' }
          : {}),
      };
    }
    return this.#info;
  }

  open(): KeyStoreInfo {
    const info = this.connect();
    if (!this.hasKey()) {
      throw new KeyError(
        'EGW_KEY_NOT_FOUND',
        `${this.#where}: no identity key in slot ${this.#signingSlot}`,
        {
          hint: 'provision the part first (gatewayctl provision), or check identity.key.atecc608.key_slot',
        },
      );
    }
    return info;
  }

  publicKey(): Uint8Array {
    this.#spki ??= spkiFromXy(this.#connected().publicKey(this.#signingSlot));
    return this.#spki;
  }

  signDigest(digest: Uint8Array): Uint8Array {
    return this.#connected().sign(this.#signingSlot, digest);
  }

  healthChecks(): { name: string; ok: boolean; detail: string }[] {
    const checks: { name: string; ok: boolean; detail: string }[] = [];
    const check = (name: string, run: () => { ok: boolean; detail: string }) => {
      try {
        checks.push({ name, ...run() });
      } catch (error) {
        checks.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error) });
      }
    };
    check('ATECC608A serial number', () => ({ ok: true, detail: this.#connected().serialNumber() }));
    check('ATECC608A revision', () => ({ ok: true, detail: this.connect().model }));
    check('ATECC608A zones locked', () => {
      const state = this.lockState();
      const ok = state.config && state.data;
      const detail = ok
        ? 'config and data zones locked'
        : `${state.config ? '' : 'config zone unlocked; '}${state.data ? '' : 'data zone unlocked'}: the part can still be reconfigured (finish provisioning with gatewayctl provision lock)`;
      return { ok, detail };
    });
    return checks;
  }

  close(): void {
    const driver = this.#driver;
    this.#driver = undefined;
    this.#info = undefined;
    this.#spki = undefined;
    driver?.close();
  }

  hasKey(): boolean {
    return this.#hasKeyIn(this.#signingSlot);
  }

  #hasKeyIn(slot: number): boolean {
    try {
      this.#connected().publicKey(slot);
      return true;
    } catch (error) {
      if (error instanceof Atecc608StatusError && error.status === 0x0f) return false;
      throw error;
    }
  }

  generateKey(options: { overwrite: boolean }): Uint8Array {
    const driver = this.#connected();
    const slot = this.#signingSlot;
    this.#configureAndLockConfig();
    if (!options.overwrite && this.hasKey()) {
      throw new KeyError('EGW_KEY_EXISTS', `${this.#where}: slot ${slot} already holds a key`, {
        hint: 'pass --overwrite to replace it (the old key is destroyed and certificates issued for it become useless)',
      });
    }
    const config = driver.readConfig();
    if (driver.lockState().data && (slotConfig(config, slot) & GENKEY_ALLOWED) === 0) {
      throw new KeyError(
        'EGW_KEY_LOCKED',
        `${this.#where}: the data zone is locked and slot ${slot} does not allow GenKey`,
        {
          hint: 'this part can no longer create a key in that slot',
        },
      );
    }
    try {
      this.#spki = spkiFromXy(driver.genKey(slot));
    } catch (error) {
      if (error instanceof Atecc608StatusError && error.status === 0x0f) {
        throw new KeyError('EGW_KEY_LOCKED', `${this.#where}: GenKey in slot ${slot} refused (status 0x0F)`, {
          hint: 'the slot configuration does not allow creating a key there',
          cause: error,
        });
      }
      throw error;
    }
    return this.#spki;
  }

  storeCertificates(certificates: FactoryCertificates): void {
    const driver = this.#connected();
    const slots = certificateSlots(this.params.keySlot);
    const record = encodeCertificates(certificates, certificateCapacity(this.params.keySlot), this.#where);
    this.#configureAndLockConfig();
    this.#checkCertificateSlots(driver.readConfig(), record.length);
    let position = 0;
    for (const slot of slots) {
      if (position >= record.length) break;
      const chunk = record.subarray(position, position + slotSize(slot));
      driver.writeSlot(slot, chunk);
      position += chunk.length;
    }
    // Read back where the part allows it (the model does before the data lock, real parts do not).
    const stored = this.#readRecordIfReadable();
    if (stored && Buffer.compare(stored, record) !== 0) {
      throw new KeyError(
        'EGW_KEY_DEVICE_ERROR',
        `${this.#where}: the certificate record read back differs from what was written`,
        {
          hint: 'the bus corrupted data that passed the CRC, or the part is failing: retry, then replace it',
        },
      );
    }
  }

  readCertificates(): Partial<FactoryCertificates> {
    const record = this.#readRecord();
    return record ? decodeCertificates(record, this.#where) : {};
  }

  lockState(): { config: boolean; data: boolean } {
    return this.#connected().lockState();
  }

  lock(): void {
    const driver = this.#connected();
    const state = driver.lockState();
    if (state.config && state.data) {
      throw new KeyError('EGW_KEY_LOCKED', `${this.#where}: the config and data zones are already locked`, {
        hint: 'locking happens once, at provisioning',
      });
    }
    if (!this.#hasKeyIn(this.params.keySlot)) {
      throw new KeyError(
        'EGW_KEY_NOT_FOUND',
        `${this.#where}: refusing to lock: no key in slot ${this.params.keySlot} yet`,
        {
          hint: 'provisioning order: generate the key, store the certificates, then lock',
        },
      );
    }
    // A real part refuses data reads before the lock: then the certificates cannot be checked.
    let stored = true;
    try {
      stored = this.#readRecord() !== undefined;
    } catch (error) {
      if (!(error instanceof KeyError) || error.code !== 'EGW_KEY_LOCKED') throw error;
    }
    if (!stored) {
      throw new KeyError(
        'EGW_KEY_NOT_FOUND',
        `${this.#where}: refusing to lock: no certificates stored yet (the lock freezes the certificate slots)`,
        { hint: 'store the factory certificates first' },
      );
    }
    // A key exists, so the config zone is locked already: only the data zone is left.
    driver.lock('data');
  }

  get #where(): string {
    return this.#connected().where;
  }

  get #signingSlot(): number {
    return this.params.signingSlot ?? this.params.keySlot;
  }

  #connected(): Atecc608Driver {
    if (this.#driver) return this.#driver;
    const { bus, address, i2cBus } = this.params;
    const state = i2cBus?.options.statePath;
    const busName = i2cBus
      ? `/dev/i2c-${bus} (simulated${typeof state === 'string' ? `: ${state}` : ''})`
      : `/dev/i2c-${bus}`;
    const i2c = i2cBus ? this.#openBus(i2cBus, busName) : openI2cBus(bus);
    if (i2cBus) this.#busLabel = 'label' in i2c && typeof i2c.label === 'string' ? i2c.label : undefined;
    const driver = new Atecc608Driver({
      bus: i2c,
      address,
      busName,
      ...(this.params.busLock ? { busLock: new SharedBusLock(this.params.busLock) } : {}),
    });
    try {
      driver.wake();
    } catch (error) {
      i2c.closeSync();
      throw error;
    }
    this.#driver = driver;
    return driver;
  }

  /**
   * Before the config lock: writes the SlotConfig/KeyConfig of the layout in the header (only the
   * words that differ), then locks the config zone against its summary CRC. After it: checks that
   * the locked configuration has the key slot this device signs with.
   */
  #configureAndLockConfig(): void {
    const driver = this.#connected();
    const slot = this.#signingSlot;
    if (driver.lockState().config) {
      const config = driver.readConfig();
      const keyConfig = keyConfigOf(config, slot);
      const p256Private = (keyConfig & 0x0001) !== 0 && ((keyConfig >> 2) & 0x07) === 4;
      if (!p256Private || (slotConfig(config, slot) & 0x0001) === 0) {
        throw new KeyError(
          'EGW_KEY_LOCKED',
          `${this.#where}: the config zone is locked with slot ${slot} not set up as a P-256 signing key (SlotConfig 0x${slotConfig(config, slot).toString(16).padStart(4, '0')}, KeyConfig 0x${keyConfig.toString(16).padStart(4, '0')})`,
          {
            hint:
              slot === this.params.keySlot
                ? 'use a key slot the part was configured for (identity.key.atecc608.key_slot), or a blank part'
                : 'this part was provisioned without spare key slots (before key rotation existed): set identity.renewal.rotate_key = false, or provision a blank part',
          },
        );
      }
      return;
    }
    const config = driver.readConfig();
    const wanted = config.slice();
    const keySlots = [this.params.keySlot, ...spareKeySlots(this.params.keySlot)];
    for (let s = 0; s < 16; s++) {
      const isKey = keySlots.includes(s);
      const slotValue = isKey ? KEY_SLOT_CONFIG : CERT_SLOT_CONFIG;
      const keyValue = isKey ? KEY_KEY_CONFIG : CERT_KEY_CONFIG;
      wanted.set([slotValue & 0xff, slotValue >> 8], 20 + s * 2);
      wanted.set([keyValue & 0xff, keyValue >> 8], 96 + s * 2);
    }
    for (let word = 0; word < 32; word++) {
      const at = word * 4;
      if (Buffer.compare(config.subarray(at, at + 4), wanted.subarray(at, at + 4)) !== 0) {
        driver.write('config', 0, word >> 3, word & 7, wanted.subarray(at, at + 4));
      }
    }
    driver.lock('config');
  }

  /** The certificate slots the record needs must be clear data slots in the (locked) config. */
  #checkCertificateSlots(config: Uint8Array, length: number): void {
    let covered = 0;
    for (const slot of certificateSlots(this.params.keySlot)) {
      if (covered >= length) return;
      const secret = (keyConfigOf(config, slot) & 0x0001) !== 0 || (slotConfig(config, slot) & 0x0080) !== 0;
      if (secret) {
        throw new KeyError(
          'EGW_KEY_LOCKED',
          `${this.#where}: slot ${slot} is a secret slot in the locked configuration and cannot hold certificates`,
          {
            hint: 'this part was configured by another tool: use a blank part',
          },
        );
      }
      covered += slotSize(slot);
    }
  }

  #readRecord(): Uint8Array | undefined {
    const driver = this.#connected();
    // Slot 8 comes first in every layout version: the header says which layout follows.
    const header = recordHeader(driver.readSlot(8, RECORD_HEADER_BYTES), this.#where);
    if (header === undefined) return undefined;
    const { length, version } = header;
    const slots = certificateSlots(this.params.keySlot, version);
    const record = new Uint8Array(length);
    let position = 0;
    for (const slot of slots) {
      if (position >= length) break;
      const take = Math.min(slotSize(slot), length - position);
      record.set(driver.readSlot(slot, take), position);
      position += take;
    }
    return record;
  }

  /** The record, or undefined when none is stored or the part refuses data reads (before its lock). */
  #readRecordIfReadable(): Uint8Array | undefined {
    try {
      return this.#readRecord();
    } catch (error) {
      if (error instanceof KeyError && error.code === 'EGW_KEY_LOCKED') return undefined;
      throw error;
    }
  }
}

/**
 * Opens /dev/i2c-N through the optional `i2c-bus` package, loaded only when hardware is used.
 * i2c-bus opens the device file on the first transfer, so a missing bus usually surfaces from the
 * driver's wake (also as EGW_KEY_DEVICE_MISSING).
 */
function openI2cBus(bus: number): I2cBusLike {
  let i2c: { openSync(busNumber: number): I2cBusLike };
  try {
    i2c = createRequire(import.meta.url)('i2c-bus') as typeof i2c;
  } catch (error) {
    throw new KeyError(
      'EGW_KEY_DEVICE_MISSING',
      `cannot reach the ATECC608A on /dev/i2c-${bus}: the i2c-bus package is not installed`,
      {
        hint: `npm install i2c-bus (a native addon: needs python3, make and g++), and check that /dev/i2c-${bus} exists`,
        cause: error,
      },
    );
  }
  try {
    return i2c.openSync(bus);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new KeyError(
        'EGW_KEY_DEVICE_MISSING',
        `no permission to open /dev/i2c-${bus} for the ATECC608A`,
        {
          hint: 'run the daemon in the i2c group (SupplementaryGroups=i2c in the systemd unit)',
          cause: error,
        },
      );
    }
    throw new KeyError(
      'EGW_KEY_DEVICE_MISSING',
      `cannot open /dev/i2c-${bus} for the ATECC608A: ${(error as Error).message}`,
      {
        hint: `check identity.key.atecc608.bus; enable the I2C controller (e.g. dtparam=i2c_arm=on) and load i2c-dev (modprobe i2c-dev) so /dev/i2c-${bus} exists`,
        cause: error,
      },
    );
  }
}

function checkParams(params: Atecc608DeviceParams): Atecc608DeviceParams {
  const bad = (what: string) =>
    new KeyError('EGW_KEY_DEVICE_ERROR', `invalid ATECC608A parameters: ${what}`, {
      hint: 'fix [identity.key.atecc608] in the gateway configuration',
    });
  const p = params as Partial<Atecc608DeviceParams> | null;
  if (!p || typeof p !== 'object') throw bad('none given');
  if (!Number.isInteger(p.bus) || (p.bus as number) < 0)
    throw bad(`bus must be the N of /dev/i2c-N, got ${p.bus}`);
  if (!Number.isInteger(p.address) || (p.address as number) < 0x08 || (p.address as number) > 0x77) {
    throw bad(`address must be a 7-bit I2C address (0x08–0x77), got ${p.address}`);
  }
  if (!Number.isInteger(p.keySlot) || (p.keySlot as number) < 0 || (p.keySlot as number) > 7) {
    throw bad(`keySlot must be 0–7 (the 36-byte key slots), got ${p.keySlot}`);
  }
  if (p.signingSlot !== undefined) {
    const allowed = [p.keySlot as number, ...spareKeySlots(p.keySlot as number)];
    if (!allowed.includes(p.signingSlot)) {
      throw bad(
        `signingSlot must be the key slot or a spare key slot (${allowed.join(', ')}), got ${p.signingSlot}`,
      );
    }
  }
  if (p.busLock !== undefined && !(p.busLock instanceof SharedArrayBuffer)) {
    throw bad('busLock must be a SharedArrayBuffer');
  }
  if (p.i2cBus !== undefined && !isBusModule(p.i2cBus)) {
    throw bad('i2cBus needs { module: string, exportName: string, options: object }');
  }
  return p as Atecc608DeviceParams;
}

function slotConfig(config: Uint8Array, slot: number): number {
  return (config[20 + slot * 2] ?? 0) | ((config[21 + slot * 2] ?? 0) << 8);
}

function keyConfigOf(config: Uint8Array, slot: number): number {
  return (config[96 + slot * 2] ?? 0) | ((config[97 + slot * 2] ?? 0) << 8);
}

/** SPKI DER of a P-256 public key given as X‖Y (what GenKey returns). */
export function spkiFromXy(xy: Uint8Array): Uint8Array {
  if (xy.length !== 64)
    throw new KeyError('EGW_KEY_DEVICE_ERROR', `expected a 64-byte public key X‖Y, got ${xy.length} bytes`);
  return new Uint8Array(Buffer.concat([P256_SPKI_PREFIX, xy]));
}
