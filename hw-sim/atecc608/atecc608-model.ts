import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type Hash,
  randomBytes,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { threadId } from 'node:worker_threads';
import { EcdsaDigestSigner } from '../../src/native/openssl/index.js';

/**
 * A byte-level model of an ATECC608A as seen from its I2C pins, for HIL tests and the demo.
 *
 * What it models (datasheet behaviour, simplified where noted):
 * - Power states: asleep → (wake pulse) → awake; word address 0x01 sleep, 0x02 idle, 0x00 reset of
 *   the I/O pointer, 0x03 command. The first read after a wake returns 04 11 33 43. Asleep or idle,
 *   the part NACKs everything but the wake pulse. Sleep loses TempKey; idle keeps it.
 * - Watchdog: `watchdogMs` (1.3 s) after wake the part falls asleep. A command that could not finish
 *   before the watchdog fires is refused with status 0xEE, as the real part does.
 * - Execution time: a command keeps the part busy for a typical datasheet time; reads and writes
 *   NACK meanwhile. With `timing: false` results are ready at once (unit tests).
 * - Commands: Info (mode 0), Read, Write, Nonce (pass-through only), Random, GenKey (modes 0x04 and
 *   0x00), Sign (external, mode 0x80), SHA (start/update/end), Lock (config; data+OTP; bit 0x80
 *   skips the summary CRC). Anything else is a parse error (0x03); Verify, encrypted reads/writes,
 *   slot locks and the other modes are not modelled.
 * - Access rules: the config zone is always readable and writable until its lock (bytes 0–15 and
 *   84–87 never by Write). Private-key slots (KeyConfig.Private) are never readable and written only
 *   by GenKey. Secret slots (SlotConfig.IsSecret) are never readable (encrypted reads are not
 *   modelled). Clear slots (IsSecret = 0) are readable at any time: the real part refuses every data
 *   zone read before the data lock; the model relaxes that so provisioning can verify what it wrote.
 *   Data slots are writable once the config is locked and until the data lock; after it, only
 *   slots whose WriteConfig is Always (0). GenKey needs the config lock, and after the data lock
 *   the slot's WriteConfig GenKey bit. Refusals answer 0x0F (execution error).
 * - Summary CRC of Lock: config = CRC-16 of the 128 config bytes; data = CRC-16 of the 16 slots in
 *   order (private-key slots as zeros, this model's own definition) followed by the OTP zone.
 * - Faults (tests): corrupt the CRC of the next N responses, NACK the next N transactions, drop to
 *   sleep during the next N commands (optionally of one opcode): result and TempKey lost.
 * - Persistence: config, OTP, slots and private keys (PKCS#8) go to `statePath` (JSON, written to a
 *   temporary file and renamed) after every command that changes them, and are loaded from it.
 */
export interface Atecc608ModelOptions {
  /** JSON state file; loaded if present, created otherwise. Without it the part is volatile. */
  statePath?: string;
  /** Model execution times (busy NACKs) and wake delay. Default true. */
  timing?: boolean;
  /** Watchdog period after wake; default 1300 ms with timing, disabled without. */
  watchdogMs?: number;
  /** Milliseconds, monotonic; tests substitute a fake clock. */
  clock?: () => number;
  faults?: Partial<Atecc608Faults>;
}

export interface Atecc608Faults {
  /** Corrupt the CRC of the next N command responses. */
  corruptResponses: number;
  /** NACK the next N transactions addressed to the part (a NACK storm). */
  nackTransactions: number;
  /** Fall asleep during the next N commands (brown-out / watchdog): result and TempKey are lost. */
  sleepDuringCommands: number;
  /** Only commands with this opcode count for `sleepDuringCommands`. */
  sleepDuringOpcode?: number;
}

export interface Atecc608ModelStats {
  wakes: number;
  commands: number;
  nacks: number;
  /** Commands received with a bad CRC or count (answered 0xFF). */
  badPackets: number;
  /** Times the watchdog put the part to sleep. */
  watchdogSleeps: number;
  /** Commands refused with 0xEE because the watchdog was about to fire. */
  watchdogRefusals: number;
}

export type PowerState = 'asleep' | 'idle' | 'awake';

const OP = {
  read: 0x02,
  write: 0x12,
  nonce: 0x16,
  lock: 0x17,
  random: 0x1b,
  info: 0x30,
  genKey: 0x40,
  sign: 0x41,
  verify: 0x45,
  sha: 0x47,
} as const;

/** [typical, maximum] execution time in ms (datasheet-ish, default clock divider). */
const EXECUTION_MS: Record<number, [number, number]> = {
  [OP.read]: [1, 5],
  [OP.write]: [7, 45],
  [OP.nonce]: [7, 20],
  [OP.lock]: [15, 35],
  [OP.random]: [21, 23],
  [OP.info]: [1, 5],
  [OP.genKey]: [60, 115],
  [OP.sign]: [55, 115],
  [OP.verify]: [60, 105],
  [OP.sha]: [2, 36],
};

const STATUS = {
  ok: 0x00,
  parse: 0x03,
  execution: 0x0f,
  afterWake: 0x11,
  watchdog: 0xee,
  crc: 0xff,
} as const;
/** tWHI: after the wake pulse the part needs this long before it answers. */
const WAKE_DELAY_MS = 1.5;
const SLOT_SIZES = [36, 36, 36, 36, 36, 36, 36, 36, 416, 72, 72, 72, 72, 72, 72, 72];
const STATE_FORMAT = 'edge-gatewayd/atecc608-sim';

/** What a command handler answers: response data, or a bare status byte (a number). */
type Reply = Uint8Array | number;

interface Persisted {
  format: string;
  version: 1;
  config: string;
  otp: string;
  slots: string[];
  keys: Record<string, string>;
}

export class Atecc608Model {
  readonly timing: boolean;
  readonly faults: Atecc608Faults;
  readonly stats: Atecc608ModelStats = {
    wakes: 0,
    commands: 0,
    nacks: 0,
    badPackets: 0,
    watchdogSleeps: 0,
    watchdogRefusals: 0,
  };
  readonly config: Uint8Array;
  readonly otp: Uint8Array;
  readonly slots: Uint8Array[];
  readonly #keys = new Map<number, Uint8Array>();
  readonly #statePath: string | undefined;
  readonly #watchdogMs: number;
  readonly #clock: () => number;
  #power: PowerState = 'asleep';
  #wakeAt = 0;
  #readyAt = 0;
  #busyUntil = 0;
  #output: Uint8Array = new Uint8Array();
  #pointer = 0;
  #tempKey: Uint8Array | undefined;
  #sha: Hash | undefined;

  constructor(options: Atecc608ModelOptions = {}) {
    this.timing = options.timing ?? true;
    this.#watchdogMs = options.watchdogMs ?? (this.timing ? 1_300 : Number.POSITIVE_INFINITY);
    this.#clock = options.clock ?? (() => performance.now());
    this.faults = { corruptResponses: 0, nackTransactions: 0, sleepDuringCommands: 0, ...options.faults };
    this.#statePath = options.statePath;
    if (this.#statePath && existsSync(this.#statePath)) {
      const state = loadState(this.#statePath);
      this.config = state.config;
      this.otp = state.otp;
      this.slots = state.slots;
      for (const [slot, key] of state.keys) this.#keys.set(slot, key);
    } else {
      this.config = defaultConfig();
      this.otp = new Uint8Array(64);
      this.slots = SLOT_SIZES.map((size) => new Uint8Array(size).fill(0xff));
      this.#save();
    }
  }

  get power(): PowerState {
    this.#tick();
    return this.#power;
  }

  get tempKeyValid(): boolean {
    return this.#tempKey !== undefined;
  }

  lockState(): { config: boolean; data: boolean } {
    return { config: this.#configLocked, data: this.#dataLocked };
  }

  hasKey(slot: number): boolean {
    return this.#keys.has(slot);
  }

  /** SDA held low long enough: wakes a sleeping or idle part; an awake part ignores it. */
  wakePulse(): void {
    this.#tick();
    if (this.#power === 'awake') return;
    this.#power = 'awake';
    this.#wakeAt = this.#clock();
    this.#readyAt = this.timing ? this.#wakeAt + WAKE_DELAY_MS : this.#wakeAt;
    this.#busyUntil = 0;
    this.#respond(Uint8Array.of(STATUS.afterWake), false); // framed: 04 11 33 43
    this.stats.wakes++;
  }

  /** An I2C write addressed to the part. False means NACK. */
  receive(bytes: Uint8Array): boolean {
    if (!this.#acknowledges()) return false;
    if (bytes.length === 0) return true;
    switch (bytes[0]) {
      case 0x00:
        this.#pointer = 0;
        return true;
      case 0x01:
        this.#fallAsleep();
        return true;
      case 0x02:
        this.#power = 'idle';
        return true;
      case 0x03:
        this.#command(bytes.subarray(1));
        return true;
      default:
        return false;
    }
  }

  /** An I2C read from the part: the next `length` bytes of its output buffer, or undefined (NACK). */
  transmit(length: number): Uint8Array | undefined {
    if (!this.#acknowledges()) return undefined;
    const out = new Uint8Array(length).fill(0xff);
    out.set(this.#output.subarray(this.#pointer, this.#pointer + length));
    this.#pointer += length;
    return out;
  }

  get #configLocked(): boolean {
    return this.config[87] !== 0x55;
  }

  get #dataLocked(): boolean {
    return this.config[86] !== 0x55;
  }

  #acknowledges(): boolean {
    this.#tick();
    if (this.faults.nackTransactions > 0) {
      this.faults.nackTransactions--;
      this.stats.nacks++;
      return false;
    }
    const now = this.#clock();
    const ok = this.#power === 'awake' && now >= this.#readyAt && now >= this.#busyUntil;
    if (!ok) this.stats.nacks++;
    return ok;
  }

  /** The watchdog, evaluated lazily: past its deadline an awake part is asleep. */
  #tick(): void {
    if (this.#power === 'awake' && this.#clock() - this.#wakeAt >= this.#watchdogMs) {
      this.#fallAsleep();
      this.stats.watchdogSleeps++;
    }
  }

  #fallAsleep(): void {
    this.#power = 'asleep';
    this.#tempKey = undefined;
    this.#sha = undefined;
    this.#output = new Uint8Array();
    this.#pointer = 0;
  }

  #command(packet: Uint8Array): void {
    this.stats.commands++;
    const count = packet[0] ?? 0;
    if (packet.length < 7 || count !== packet.length || !crcMatches(packet)) {
      this.stats.badPackets++;
      this.#respond(Uint8Array.of(STATUS.crc), true);
      return;
    }
    const opcode = packet[1] ?? 0;
    const param1 = packet[2] ?? 0;
    const param2 = (packet[3] ?? 0) | ((packet[4] ?? 0) << 8);
    const data = packet.slice(5, count - 2);
    const [typicalMs, maxMs] = EXECUTION_MS[opcode] ?? [1, 1];
    const now = this.#clock();
    if (now + maxMs > this.#wakeAt + this.#watchdogMs) {
      this.stats.watchdogRefusals++;
      this.#respond(Uint8Array.of(STATUS.watchdog), true);
      return;
    }
    if (
      this.faults.sleepDuringCommands > 0 &&
      (this.faults.sleepDuringOpcode === undefined || this.faults.sleepDuringOpcode === opcode)
    ) {
      this.faults.sleepDuringCommands--;
      this.#fallAsleep();
      return;
    }
    const [reply, changed] = this.#execute(opcode, param1, param2, data);
    if (changed && (typeof reply !== 'number' || reply === STATUS.ok)) this.#save();
    this.#respond(typeof reply === 'number' ? Uint8Array.of(reply) : reply, true);
    this.#busyUntil = this.timing ? now + typicalMs : now;
  }

  /** Frames `data` as a response; the next reads return it from its first byte. */
  #respond(data: Uint8Array, command: boolean): void {
    const frame = new Uint8Array(data.length + 3);
    frame[0] = frame.length;
    frame.set(data, 1);
    frame.set(crc16(frame.subarray(0, frame.length - 2)), frame.length - 2);
    if (command && this.faults.corruptResponses > 0) {
      this.faults.corruptResponses--;
      frame[frame.length - 1] = (frame[frame.length - 1] ?? 0) ^ 0x5a;
    }
    this.#output = frame;
    this.#pointer = 0;
  }

  /** Runs one command; returns its reply and whether persistent state changed (when it succeeded). */
  #execute(opcode: number, param1: number, param2: number, data: Uint8Array): [Reply, boolean] {
    switch (opcode) {
      case OP.info:
        if (param1 !== 0x00 || data.length) return [STATUS.parse, false];
        return [this.config.slice(4, 8), false];
      case OP.read:
        return [this.#read(param1, param2, data), false];
      case OP.write:
        return [this.#write(param1, param2, data), true];
      case OP.nonce:
        if (param1 !== 0x03 || data.length !== 32) return [STATUS.parse, false];
        this.#tempKey = data.slice();
        return [STATUS.ok, false];
      case OP.random:
        if (param1 > 0x01 || data.length) return [STATUS.parse, false];
        // An unlocked config makes the real part answer this fixed pattern instead of randomness.
        if (!this.#configLocked)
          return [Uint8Array.from({ length: 32 }, (_, i) => [0xff, 0xff, 0x00, 0x00][i % 4] ?? 0), false];
        return [new Uint8Array(randomBytes(32)), false];
      case OP.genKey:
        return this.#genKey(param1, param2, data);
      case OP.sign:
        return [this.#sign(param1, param2, data), false];
      case OP.sha:
        return [this.#shaCommand(param1, data), false];
      case OP.lock:
        return [this.#lock(param1, param2, data), true];
      default:
        return [STATUS.parse, false];
    }
  }

  #read(param1: number, param2: number, data: Uint8Array): Reply {
    if (data.length || (param1 & 0x7c) !== 0) return STATUS.parse;
    const target = this.#locate(param1, param2);
    if (typeof target === 'number') return target;
    const { bytes, start, length, slot } = target;
    if (slot !== undefined && (this.#isPrivate(slot) || this.#isSecret(slot))) return STATUS.execution;
    return bytes.slice(start, start + length);
  }

  #write(param1: number, param2: number, data: Uint8Array): number {
    // Bit 6 asks for an encrypted write (MAC-checked), which is not modelled.
    if ((param1 & 0x7c) !== 0) return STATUS.parse;
    const target = this.#locate(param1, param2);
    if (typeof target === 'number') return target;
    const { bytes, start, length, slot, zone } = target;
    if (data.length !== length) return STATUS.parse;
    if (zone === 0) {
      const touches = (from: number, to: number) => start < to && start + length > from;
      if (this.#configLocked || touches(0, 16) || touches(84, 88)) return STATUS.execution;
    } else if (zone === 1) {
      if (!this.#configLocked || this.#dataLocked) return STATUS.execution;
    } else if (slot !== undefined) {
      if (!this.#configLocked || this.#isPrivate(slot)) return STATUS.execution;
      if (this.#dataLocked && this.#slotConfig(slot) >> 12 !== 0) return STATUS.execution;
    }
    bytes.set(data, start);
    return STATUS.ok;
  }

  /** Decodes zone/length (param1) and address (param2) of Read/Write, bounds-checked. */
  #locate(
    param1: number,
    param2: number,
  ): { bytes: Uint8Array; start: number; length: number; slot?: number; zone: number } | number {
    const zone = param1 & 0x03;
    const length = param1 & 0x80 ? 32 : 4;
    const offset = length === 32 ? 0 : param2 & 0x07;
    if (zone === 0 || zone === 1) {
      const block = (param2 >> 3) & 0x1f;
      const bytes = zone === 0 ? this.config : this.otp;
      const start = block * 32 + offset * 4;
      if (start + length > bytes.length) return STATUS.parse;
      return { bytes, start, length, zone };
    }
    if (zone !== 2) return STATUS.parse;
    const slot = (param2 >> 3) & 0x0f;
    const bytes = this.slots[slot] as Uint8Array;
    const start = (param2 >> 8) * 32 + offset * 4;
    if (start + length > bytes.length) return STATUS.parse;
    return { bytes, start, length, slot, zone };
  }

  #genKey(mode: number, param2: number, data: Uint8Array): [Reply, boolean] {
    if (data.length || param2 > 15) return [STATUS.parse, false];
    const slot = param2;
    if (mode === 0x00) {
      const key = this.#keys.get(slot);
      return [key ? rawPublicKey(key) : STATUS.execution, false];
    }
    if (mode !== 0x04) return [STATUS.parse, false];
    if (!this.#configLocked || !this.#isP256Private(slot)) return [STATUS.execution, false];
    // WriteConfig bit 1 (SlotConfig bit 13) allows GenKey once the data zone is locked.
    if (this.#dataLocked && (this.#slotConfig(slot) & 0x2000) === 0) return [STATUS.execution, false];
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pkcs8 = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
    this.#keys.set(slot, pkcs8);
    return [rawPublicKey(pkcs8), true];
  }

  #sign(mode: number, slot: number, data: Uint8Array): Reply {
    // Only external-message signing (mode 0x80) is modelled.
    if (mode !== 0x80 || data.length || slot > 15) return STATUS.parse;
    const key = this.#keys.get(slot);
    const tempKey = this.#tempKey;
    // SlotConfig ReadKey bit 0 on a private-key slot: external signatures allowed.
    const external = (this.#slotConfig(slot) & 0x0001) !== 0;
    if (!key || !tempKey || !this.#isP256Private(slot) || !external) return STATUS.execution;
    this.#tempKey = undefined;
    const signer = new EcdsaDigestSigner(key);
    try {
      return signer.sign(tempKey);
    } finally {
      signer.free();
    }
  }

  /** SHA-256 in the part: mode 0 start, 1 update (64 bytes), 2 end (0–63 bytes) → digest. */
  #shaCommand(mode: number, data: Uint8Array): Reply {
    switch (mode & 0x07) {
      case 0x00:
        if (data.length) return STATUS.parse;
        this.#sha = createHash('sha256');
        return STATUS.ok;
      case 0x01:
        if (data.length !== 64) return STATUS.parse;
        if (!this.#sha) return STATUS.execution;
        this.#sha.update(data);
        return STATUS.ok;
      case 0x02: {
        if (data.length > 63) return STATUS.parse;
        if (!this.#sha) return STATUS.execution;
        const digest = new Uint8Array(this.#sha.update(data).digest());
        this.#sha = undefined;
        return digest;
      }
      default:
        return STATUS.parse;
    }
  }

  #lock(mode: number, summary: number, data: Uint8Array): number {
    const zone = mode & 0x03;
    if (data.length || (mode & 0x7c) !== 0 || zone > 1) return STATUS.parse;
    const checkCrc = (mode & 0x80) === 0;
    if (zone === 0) {
      if (this.#configLocked) return STATUS.execution;
      if (checkCrc && !summaryMatches(this.config, summary)) return STATUS.execution;
      this.config[87] = 0x00;
      return STATUS.ok;
    }
    if (!this.#configLocked || this.#dataLocked) return STATUS.execution;
    if (checkCrc) {
      const image = Buffer.concat([
        ...this.slots.map((slot, index) => (this.#isPrivate(index) ? new Uint8Array(slot.length) : slot)),
        this.otp,
      ]);
      if (!summaryMatches(image, summary)) return STATUS.execution;
    }
    this.config[86] = 0x00;
    return STATUS.ok;
  }

  #slotConfig(slot: number): number {
    return (this.config[20 + slot * 2] ?? 0) | ((this.config[21 + slot * 2] ?? 0) << 8);
  }

  #keyConfig(slot: number): number {
    return (this.config[96 + slot * 2] ?? 0) | ((this.config[97 + slot * 2] ?? 0) << 8);
  }

  #isPrivate(slot: number): boolean {
    return (this.#keyConfig(slot) & 0x0001) !== 0;
  }

  #isSecret(slot: number): boolean {
    return (this.#slotConfig(slot) & 0x0080) !== 0;
  }

  /** KeyConfig: Private set and KeyType (bits 2–4) = 4, P-256. */
  #isP256Private(slot: number): boolean {
    return this.#isPrivate(slot) && ((this.#keyConfig(slot) >> 2) & 0x07) === 4;
  }

  #save(): void {
    const path = this.#statePath;
    if (!path) return;
    const state: Persisted = {
      format: STATE_FORMAT,
      version: 1,
      config: Buffer.from(this.config).toString('hex'),
      otp: Buffer.from(this.otp).toString('hex'),
      slots: this.slots.map((slot) => Buffer.from(slot).toString('hex')),
      keys: Object.fromEntries(
        [...this.#keys].map(([slot, key]) => [String(slot), Buffer.from(key).toString('base64')]),
      ),
    };
    mkdirSync(dirname(path), { recursive: true });
    // pid and thread: a CLI and a daemon worker may hold models of the same file.
    const temporary = `${path}.${process.pid}.${threadId}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, path);
  }
}

/**
 * The factory state this model ships with: serial 01 23 xx xx … EE, revision 00 00 60 02, I2C
 * address 0xC0 (0x60 << 1), both zones unlocked (0x55), and the provisioning layout of
 * edge-gatewayd: slot 0 a P-256 private key (SlotConfig 0x2083: secret, external and internal
 * signing, GenKey allowed; KeyConfig 0x0033: private, public info, P-256, lockable), slots 1–15
 * clear data (SlotConfig 0x2000: clear read, writes frozen by the data lock; KeyConfig 0x003C).
 */
export function defaultConfig(): Uint8Array {
  const config = new Uint8Array(128);
  const serial = randomBytes(6);
  config.set([0x01, 0x23, serial[0] ?? 0, serial[1] ?? 0], 0);
  config.set([0x00, 0x00, 0x60, 0x02], 4);
  config.set([serial[2] ?? 0, serial[3] ?? 0, serial[4] ?? 0, serial[5] ?? 0, 0xee], 8);
  config[13] = 0x01; // AES enable
  config[14] = 0x01; // I2C enable
  config[16] = 0xc0; // I2C address (8-bit form)
  for (let slot = 0; slot < 16; slot++) {
    config.set(slot === 0 ? [0x83, 0x20] : [0x00, 0x20], 20 + slot * 2);
    config.set(slot === 0 ? [0x33, 0x00] : [0x3c, 0x00], 96 + slot * 2);
  }
  config.set([0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00], 52); // Counter[0]
  config.set([0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00], 60); // Counter[1]
  config[72] = 0xf0; // KdflvLoc
  config[86] = 0x55; // LockValue (data + OTP)
  config[87] = 0x55; // LockConfig
  config[88] = 0xff; // SlotLocked
  config[89] = 0xff;
  return config;
}

/** CRC-16 as the part computes it: poly 0x8005, init 0, data bits LSB first, low byte first. */
function crc16(bytes: Uint8Array): Uint8Array {
  let crc = 0;
  for (const byte of bytes) {
    for (let mask = 0x01; mask <= 0x80; mask <<= 1) {
      const feedback = ((byte & mask) !== 0 ? 1 : 0) ^ (crc >>> 15);
      crc = (crc << 1) & 0xffff;
      if (feedback) crc ^= 0x8005;
    }
  }
  return Uint8Array.of(crc & 0xff, crc >>> 8);
}

function crcMatches(packet: Uint8Array): boolean {
  const crc = crc16(packet.subarray(0, packet.length - 2));
  return packet[packet.length - 2] === crc[0] && packet[packet.length - 1] === crc[1];
}

function summaryMatches(bytes: Uint8Array, summary: number): boolean {
  const crc = crc16(bytes);
  return summary === ((crc[0] ?? 0) | ((crc[1] ?? 0) << 8));
}

/** X‖Y of a P-256 key: the last 64 bytes of its SPKI (uncompressed point). */
function rawPublicKey(pkcs8: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 64));
}

function loadState(path: string): {
  config: Uint8Array;
  otp: Uint8Array;
  slots: Uint8Array[];
  keys: [number, Uint8Array][];
} {
  let state: Persisted;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as Persisted;
  } catch (error) {
    throw new Error(`ATECC608A simulator state ${path} is not readable JSON: ${(error as Error).message}`);
  }
  const bytes = (hex: unknown, size: number, what: string): Uint8Array => {
    const value = typeof hex === 'string' ? Buffer.from(hex, 'hex') : Buffer.alloc(0);
    if (value.length !== size)
      throw new Error(`ATECC608A simulator state ${path}: ${what} must be ${size} bytes`);
    return new Uint8Array(value);
  };
  if (state.format !== STATE_FORMAT || state.version !== 1 || !Array.isArray(state.slots)) {
    throw new Error(
      `ATECC608A simulator state ${path} is not a ${STATE_FORMAT} v1 file: delete it to start afresh`,
    );
  }
  return {
    config: bytes(state.config, 128, 'config'),
    otp: bytes(state.otp, 64, 'otp'),
    slots: SLOT_SIZES.map((size, slot) => bytes(state.slots[slot], size, `slot ${slot}`)),
    keys: Object.entries(state.keys ?? {}).map(([slot, key]) => [
      Number(slot),
      new Uint8Array(Buffer.from(key, 'base64')),
    ]),
  };
}
