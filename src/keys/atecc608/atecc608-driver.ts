import { KeyError } from '../key-error.js';
import { crc16 } from './crc16.js';
import { type I2cBusLike, isNack } from './i2c-bus-like.js';
import { maxExecutionMs, Opcode, opcodeName, ZONE_32_BYTES, Zone, type ZoneName } from './opcodes.js';
import {
  buildCommand,
  MAX_RESPONSE,
  MIN_RESPONSE,
  parseResponse,
  WAKE_TOKEN,
  WordAddress,
  zoneAddress,
} from './packet.js';
import type { SharedBusLock } from './shared-bus-lock.js';
import { Atecc608StatusError, hex2, isTransientStatus, STATUS_OK } from './status.js';
import { TransientFault } from './transient-fault.js';

export interface Atecc608DriverOptions {
  bus: I2cBusLike;
  /** 7-bit I2C address; 0x60 is the factory default. */
  address?: number;
  /** How the bus is named in messages, e.g. "/dev/i2c-1". */
  busName?: string;
  /** Extra attempts of a transaction (re-waking the part each time) after a transient failure. */
  retries?: number;
  /** Pause between polls of a part that NACKs while it executes. */
  pollIntervalMs?: number;
  /** Re-wake (via idle) before a command when the part has been awake longer than this. */
  watchdogGuardMs?: number;
  /** Put the part to idle after each public operation (resets its watchdog, keeps TempKey). */
  idleAfterOperation?: boolean;
  /** Milliseconds, monotonic. Tests substitute a fake clock. */
  clock?: () => number;
  /** Synchronous sleep (this runs in a worker thread or a short-lived CLI). */
  sleep?: (ms: number) => void;
  /** Held around each public operation when other threads drive the same part. */
  busLock?: SharedBusLock;
}

export interface Atecc608DriverStats {
  wakes: number;
  retries: number;
  /** Reads the part NACKed while executing a command (proof that polling happened). */
  busyPolls: number;
}

/** Wake low-to-data time (tWHI): the part needs this long after the wake pulse before it answers. */
const WAKE_DELAY_MS = 1.5;
const WAKE_ATTEMPTS = 3;
/** Slack added to the datasheet maximum before a silent part counts as lost. */
const POLL_MARGIN_MS = 5;
/** The ATECC608A watchdog puts it to sleep ~1.3 s after wake; stay well clear. */
const DEFAULT_WATCHDOG_GUARD_MS = 1_000;

/** Sizes of the 16 data slots: 0–7 hold 36 bytes, 8 holds 416, 9–15 hold 72. */
export function slotSize(slot: number): number {
  if (slot < 0 || slot > 15) throw new RangeError(`ATECC608A slot ${slot} does not exist (0–15)`);
  return slot < 8 ? 36 : slot === 8 ? 416 : 72;
}

const sleepArray = new Int32Array(new SharedArrayBuffer(4));
const blockingSleep = (ms: number): void => {
  Atomics.wait(sleepArray, 0, 0, ms);
};

/**
 * The ATECC608A protocol over an I2C bus: wake/idle/sleep, framed commands with CRC, polling while
 * the part executes, and retries that survive a noisy bus, a NACKing part, and the part's own
 * watchdog (which puts it to sleep ~1.3 s after wake and loses TempKey).
 *
 * Retries work on sequences, not single commands: Nonce+Sign is retried as a pair, because a part
 * that slept in between has lost the digest Nonce loaded into TempKey.
 *
 * All calls are synchronous; the driver is meant to live in the key device's worker thread.
 */
export class Atecc608Driver {
  readonly address: number;
  readonly busName: string;
  readonly stats: Atecc608DriverStats = { wakes: 0, retries: 0, busyPolls: 0 };
  readonly #bus: I2cBusLike;
  readonly #retries: number;
  readonly #pollIntervalMs: number;
  readonly #watchdogGuardMs: number;
  readonly #idleAfterOperation: boolean;
  readonly #clock: () => number;
  readonly #sleep: (ms: number) => void;
  readonly #busLock: SharedBusLock | undefined;
  #awake = false;
  #wakeAt = 0;
  #depth = 0;

  constructor(options: Atecc608DriverOptions) {
    this.#bus = options.bus;
    this.address = options.address ?? 0x60;
    this.busName = options.busName ?? 'I2C bus';
    this.#retries = options.retries ?? 3;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1;
    this.#watchdogGuardMs = options.watchdogGuardMs ?? DEFAULT_WATCHDOG_GUARD_MS;
    this.#idleAfterOperation = options.idleAfterOperation ?? true;
    this.#clock = options.clock ?? (() => performance.now());
    this.#sleep = options.sleep ?? blockingSleep;
    this.#busLock = options.busLock;
  }

  /** "ATECC608A on /dev/i2c-1 address 0x60", the prefix of every message. */
  get where(): string {
    return `ATECC608A on ${this.busName} address 0x${hex2(this.address)}`;
  }

  /** Wakes the part and checks its wake token (04 11 33 43). */
  wake(): void {
    this.#exclusive(() => this.#retrying('wake', () => this.#wake()));
  }

  /** Idle keeps TempKey and resets the watchdog; the part needs a wake before the next command. */
  idle(): void {
    this.#word(WordAddress.idle);
  }

  /** Sleep loses TempKey; lowest power. */
  sleep(): void {
    this.#word(WordAddress.sleep);
  }

  /**
   * One command, retried (with a re-wake) on a corrupted frame, a NACK, a lost wake or a transient
   * status. Returns the response data; a status-only success returns an empty array.
   */
  execute(
    opcode: number,
    param1: number,
    param2: number,
    data: Uint8Array = new Uint8Array(),
    maxExecMs = maxExecutionMs(opcode),
    label = opcodeName(opcode),
  ): Uint8Array {
    return this.#operation(() =>
      this.#retrying(label, () => this.#attempt(opcode, param1, param2, data, maxExecMs, label)),
    );
  }

  /** Info mode 0: the revision number (4 bytes, e.g. 00 00 60 02 for an ATECC608A). */
  info(): Uint8Array {
    return this.#expect(this.execute(Opcode.Info, 0x00, 0x0000), 4, 'Info');
  }

  read(zone: ZoneName, slot: number, block: number, offset: number, length: 4 | 32): Uint8Array {
    const where = describeAddress(zone, slot, block, offset);
    const param1 = Zone[zone] | (length === 32 ? ZONE_32_BYTES : 0);
    const param2 = zoneAddress(zone, slot, block, offset);
    try {
      return this.#expect(
        this.execute(Opcode.Read, param1, param2, undefined, undefined, `Read (0x02) of ${where}`),
        length,
        'Read',
      );
    } catch (error) {
      if (error instanceof Atecc608StatusError && error.status === 0x0f && zone === 'data') {
        throw new KeyError(
          'EGW_KEY_LOCKED',
          `${this.where}: Read of data zone slot ${slot} refused (status 0x0F): the slot is secret (a private key or IsSecret) or the data zone is not locked yet`,
          { hint: 'only clear-read slots can be read; private keys never leave the part', cause: error },
        );
      }
      throw error;
    }
  }

  /** The first `length` bytes of a data slot (32-byte blocks where they fit, 4-byte words after). */
  readSlot(slot: number, length = slotSize(slot)): Uint8Array {
    const size = slotSize(slot);
    if (length < 0 || length > size) throw new RangeError(`slot ${slot} holds ${size} bytes, not ${length}`);
    return this.#operation(() => {
      const out = new Uint8Array(Math.ceil(length / 4) * 4);
      for (let position = 0; position < length; ) {
        const block = position >> 5;
        const offset = (position & 31) >> 2;
        if (offset === 0 && position + 32 <= size && length - position > 4) {
          out.set(this.read('data', slot, block, 0, 32).subarray(0, out.length - position), position);
          position += 32;
        } else {
          out.set(this.read('data', slot, block, offset, 4), position);
          position += 4;
        }
      }
      return out.slice(0, length);
    });
  }

  /** The whole 128-byte config zone. */
  readConfig(): Uint8Array {
    return this.#operation(() => {
      const config = new Uint8Array(128);
      for (let block = 0; block < 4; block++) config.set(this.read('config', 0, block, 0, 32), block * 32);
      return config;
    });
  }

  write(zone: ZoneName, slot: number, block: number, offset: number, data: Uint8Array): void {
    if (data.length !== 4 && data.length !== 32) {
      throw new RangeError(`ATECC608A writes 4 or 32 bytes, not ${data.length}`);
    }
    const where = describeAddress(zone, slot, block, offset);
    const param1 = Zone[zone] | (data.length === 32 ? ZONE_32_BYTES : 0);
    try {
      this.execute(
        Opcode.Write,
        param1,
        zoneAddress(zone, slot, block, offset),
        data,
        undefined,
        `Write (0x12) to ${where}`,
      );
    } catch (error) {
      if (error instanceof Atecc608StatusError && error.status === 0x0f)
        throw this.#writeRefused(zone, slot, error);
      throw error;
    }
  }

  /** Writes `data` from the start of a slot (zero-padded to a 4-byte multiple). */
  writeSlot(slot: number, data: Uint8Array): void {
    const size = slotSize(slot);
    if (data.length > size) throw new RangeError(`slot ${slot} holds ${size} bytes; got ${data.length}`);
    const padded = new Uint8Array(Math.ceil(data.length / 4) * 4);
    padded.set(data);
    this.#operation(() => {
      for (let position = 0; position < padded.length; ) {
        const block = position >> 5;
        if ((position & 31) === 0 && padded.length - position >= 32) {
          this.write('data', slot, block, 0, padded.subarray(position, position + 32));
          position += 32;
        } else {
          this.write('data', slot, block, (position & 31) >> 2, padded.subarray(position, position + 4));
          position += 4;
        }
      }
    });
  }

  /** Nonce pass-through: loads 32 bytes into TempKey as they are. */
  nonce(value: Uint8Array): void {
    if (value.length !== 32) throw new RangeError(`Nonce pass-through takes 32 bytes, not ${value.length}`);
    this.execute(Opcode.Nonce, 0x03, 0x0000, value);
  }

  random(): Uint8Array {
    return this.#expect(this.execute(Opcode.Random, 0x00, 0x0000), 32, 'Random');
  }

  /** GenKey mode 0x04: a new P-256 private key in `slot`; returns its public key X‖Y (64 bytes). */
  genKey(slot: number): Uint8Array {
    return this.#expect(
      this.execute(Opcode.GenKey, 0x04, slot, undefined, undefined, `GenKey (0x40) create in slot ${slot}`),
      64,
      'GenKey',
    );
  }

  /** GenKey mode 0x00: the public key X‖Y of the private key in `slot`. */
  publicKey(slot: number): Uint8Array {
    return this.#expect(
      this.execute(
        Opcode.GenKey,
        0x00,
        slot,
        undefined,
        undefined,
        `GenKey (0x40) public key of slot ${slot}`,
      ),
      64,
      'GenKey',
    );
  }

  /**
   * ECDSA P-256 over a 32-byte digest with the key in `slot`: Nonce pass-through loads the digest
   * into TempKey, Sign mode 0x80 (external message) signs it. Returns r‖s (64 bytes).
   */
  sign(slot: number, digest: Uint8Array): Uint8Array {
    if (digest.length !== 32) {
      throw new KeyError(
        'EGW_KEY_BAD_DIGEST',
        `expected a 32-byte SHA-256 digest, got ${digest.length} bytes`,
      );
    }
    const label = `Nonce+Sign (0x16, 0x41) with slot ${slot}`;
    return this.#operation(() =>
      this.#retrying(label, () => {
        this.#attempt(Opcode.Nonce, 0x03, 0x0000, digest, maxExecutionMs(Opcode.Nonce), label);
        const signature = this.#attempt(
          Opcode.Sign,
          0x80,
          slot,
          new Uint8Array(),
          maxExecutionMs(Opcode.Sign),
          label,
        );
        return this.#expect(signature, 64, 'Sign');
      }),
    );
  }

  /**
   * Locks a zone for good. The config zone is locked against the summary CRC of what the driver
   * reads back (so a config that changed underneath is not locked); the data zone (with OTP) is
   * locked without one, since secret slots cannot be read to compute it.
   */
  lock(zone: 'config' | 'data'): void {
    this.#operation(() => {
      const crc = zone === 'config' ? crc16(this.readConfig()) : Uint8Array.of(0, 0);
      const retriesBefore = this.stats.retries;
      try {
        this.execute(
          Opcode.Lock,
          zone === 'config' ? 0x00 : 0x81,
          (crc[0] ?? 0) | ((crc[1] ?? 0) << 8),
          undefined,
          undefined,
          `Lock (0x17) ${zone} zone`,
        );
      } catch (error) {
        if (!(error instanceof Atecc608StatusError) || error.status !== 0x0f) throw error;
        const state = this.lockState();
        // A retried Lock whose first answer was lost finds its own lock: that is success.
        if (state[zone] && this.stats.retries > retriesBefore) return;
        if (state[zone]) {
          throw new KeyError('EGW_KEY_LOCKED', `${this.where}: the ${zone} zone is already locked`, {
            hint: 'locking is permanent and happens once, at provisioning',
            cause: error,
          });
        }
        if (zone === 'data' && !state.config) {
          throw new KeyError(
            'EGW_KEY_LOCKED',
            `${this.where}: the data zone cannot be locked before the config zone`,
            {
              hint: 'lock the config zone first',
              cause: error,
            },
          );
        }
        throw error;
      }
    });
  }

  /** Lock bytes of the config zone: LockValue (86, data+OTP) and LockConfig (87); 0x55 = unlocked. */
  lockState(): { config: boolean; data: boolean } {
    const block = this.read('config', 0, 2, 0, 32);
    return { config: block[87 - 64] !== 0x55, data: block[86 - 64] !== 0x55 };
  }

  /** The 9-byte serial number (config bytes 0–3 and 8–12) as 18 hex digits. */
  serialNumber(): string {
    const block = this.read('config', 0, 0, 0, 32);
    return Buffer.concat([block.subarray(0, 4), block.subarray(8, 13)]).toString('hex');
  }

  /** Puts the part to sleep and releases the bus. */
  close(): void {
    this.#exclusive(() => this.#word(WordAddress.sleep));
    this.#bus.closeSync();
  }

  #operation<T>(run: () => T): T {
    return this.#exclusive(() => {
      this.#depth++;
      try {
        return run();
      } finally {
        this.#depth--;
        if (this.#depth === 0 && this.#idleAfterOperation && this.#awake) this.#idleQuietly();
      }
    });
  }

  /** Runs `run` holding the shared bus lock (outermost call only). */
  #exclusive<T>(run: () => T): T {
    if (!this.#busLock || this.#depth > 0) return run();
    if (this.#busLock.acquire()) this.#awake = false; // another thread idled or slept the part
    try {
      return run();
    } finally {
      this.#busLock.release();
    }
  }

  /** Idle that never masks the error an operation is already throwing. */
  #idleQuietly(): void {
    try {
      this.idle();
    } catch {
      this.#awake = false;
    }
  }

  #retrying<T>(what: string, run: () => T): T {
    let last: TransientFault | undefined;
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      try {
        return run();
      } catch (error) {
        if (!(error instanceof TransientFault)) throw error;
        last = error;
        this.stats.retries++;
        // Idle (ignored if the part is asleep) so the next attempt starts from a fresh wake.
        this.idle();
        this.#sleep(this.#pollIntervalMs * (attempt + 1));
      }
    }
    throw this.#finalError(what, last as TransientFault, this.#retries + 1);
  }

  /** One transaction: command out, poll while the part works, response in, CRC and status checked. */
  #attempt(
    opcode: number,
    param1: number,
    param2: number,
    data: Uint8Array,
    maxExecMs: number,
    label: string,
  ): Uint8Array {
    this.#ensureAwake();
    if (!this.#transfer('write', buildCommand(opcode, param1, param2, data))) {
      this.#awake = false;
      throw new TransientFault('nack', `the part did not acknowledge ${opcodeName(opcode)} (asleep or gone)`);
    }
    const parsed = parseResponse(this.#awaitResponse(maxExecMs, opcode));
    if (!parsed.ok) throw new TransientFault('crc', parsed.reason);
    if (parsed.data.length !== 1) return parsed.data;
    const status = parsed.data[0] ?? STATUS_OK;
    if (status === STATUS_OK) return new Uint8Array();
    if (isTransientStatus(status)) throw new TransientFault('status', `status 0x${hex2(status)}`, status);
    throw new Atecc608StatusError(status, { where: this.where, command: label });
  }

  /** Reads the count byte (polling while the part NACKs), then the rest of the response. */
  #awaitResponse(maxExecMs: number, opcode: number): Uint8Array {
    const deadline = this.#clock() + maxExecMs + POLL_MARGIN_MS;
    let head = this.#transfer('read', 1);
    while (!head) {
      if (this.#clock() >= deadline) {
        this.#awake = false;
        throw new TransientFault(
          'timeout',
          `no response to ${opcodeName(opcode)} within ${maxExecMs} ms (the part kept NACKing: busy, asleep or reset)`,
        );
      }
      this.stats.busyPolls++;
      this.#sleep(this.#pollIntervalMs);
      head = this.#transfer('read', 1);
    }
    const count = head[0] ?? 0;
    if (count < MIN_RESPONSE || count > MAX_RESPONSE) {
      throw new TransientFault('crc', `bad count byte 0x${hex2(count)} in the response`);
    }
    const rest = this.#transfer('read', count - 1);
    if (!rest) throw new TransientFault('nack', 'the part stopped answering in the middle of its response');
    const packet = new Uint8Array(count);
    packet[0] = count;
    packet.set(rest, 1);
    return packet;
  }

  #ensureAwake(): void {
    if (this.#awake && this.#clock() - this.#wakeAt > this.#watchdogGuardMs) this.idle();
    if (!this.#awake) this.#wake();
  }

  /**
   * The wake sequence: SDA held low ≥60 µs, which a write to address 0x00 produces at 100 kHz (no one
   * acknowledges it, so its error is expected), then tWHI, then the 4-byte wake token. A part that
   * was awake already answers with its old output instead: idle it and wake again.
   */
  #wake(): void {
    let answer: Uint8Array | undefined;
    for (let attempt = 0; attempt < WAKE_ATTEMPTS; attempt++) {
      try {
        this.#bus.i2cWriteSync(0x00, 1, Buffer.alloc(1));
      } catch (error) {
        // A NACK is expected: the wake pulse is addressed to nobody. Anything else is the bus.
        if (!isNack(error)) throw this.#busError(error, 'write');
      }
      this.#sleep(WAKE_DELAY_MS);
      const token = this.#transfer('read', 4);
      if (token && Buffer.compare(token, WAKE_TOKEN) === 0) {
        this.#awake = true;
        this.#wakeAt = this.#clock();
        this.stats.wakes++;
        return;
      }
      if (token) {
        answer = token;
        this.#word(WordAddress.idle);
      }
    }
    throw new TransientFault(
      'no-wake',
      answer
        ? `the part answered the wake sequence with ${Buffer.from(answer).toString('hex')} instead of 04113343`
        : 'nothing answered the wake sequence',
    );
  }

  /** Sends a bare word address (sleep/idle); a NACK means the part is asleep already. */
  #word(word: number): void {
    this.#transfer('write', Uint8Array.of(word));
    this.#awake = false;
  }

  /** One I2C transfer; false/undefined on a NACK, KeyError on anything else the bus reports. */
  #transfer(direction: 'write', bytes: Uint8Array): boolean;
  #transfer(direction: 'read', length: number): Uint8Array | undefined;
  #transfer(direction: 'write' | 'read', arg: Uint8Array | number): boolean | Uint8Array | undefined {
    try {
      if (direction === 'write') {
        const bytes = Buffer.from(arg as Uint8Array);
        this.#bus.i2cWriteSync(this.address, bytes.length, bytes);
        return true;
      }
      const buffer = Buffer.alloc(arg as number);
      const got = this.#bus.i2cReadSync(this.address, buffer.length, buffer);
      return got === buffer.length ? new Uint8Array(buffer) : undefined;
    } catch (error) {
      if (isNack(error)) return direction === 'write' ? false : undefined;
      throw this.#busError(error, direction);
    }
  }

  /** A failure of the bus itself (i2c-bus opens /dev/i2c-N on the first transfer), not of the part. */
  #busError(error: unknown, direction: 'read' | 'write'): KeyError {
    const code = (error as { code?: unknown } | null)?.code;
    const text = error instanceof Error ? error.message : String(error);
    if (code === 'ENOENT' || code === 'ENODEV') {
      return new KeyError('EGW_KEY_DEVICE_MISSING', `${this.where}: the I2C bus does not exist (${text})`, {
        hint: 'check identity.key.atecc608.bus; enable the I2C controller (e.g. dtparam=i2c_arm=on) and load i2c-dev (modprobe i2c-dev)',
        cause: error,
      });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new KeyError(
        'EGW_KEY_DEVICE_MISSING',
        `${this.where}: no permission to use the I2C bus (${text})`,
        {
          hint: 'run the daemon in the i2c group (SupplementaryGroups=i2c in the systemd unit)',
          cause: error,
        },
      );
    }
    return new KeyError('EGW_KEY_DEVICE_ERROR', `${this.where}: I2C ${direction} failed: ${text}`, {
      hint: 'the bus itself failed (not the part): check that the I2C adapter is present and not in use',
      cause: error,
    });
  }

  #finalError(what: string, fault: TransientFault, attempts: number): KeyError {
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    switch (fault.kind) {
      case 'no-wake':
        return new KeyError(
          'EGW_KEY_DEVICE_MISSING',
          `no ATECC608A answered on ${this.busName} at address 0x${hex2(this.address)}: ${fault.detail} (${what}, ${tries})`,
          {
            hint: 'check identity.key.atecc608.bus and .address (0x60 is the factory default), the wiring and pull-ups; the part sleeps between commands, so i2cdetect may not list it',
          },
        );
      case 'status':
        return new Atecc608StatusError(
          fault.status ?? 0xff,
          { where: this.where, command: what },
          ` after ${tries}`,
        );
      case 'crc':
        return new Atecc608StatusError(
          0xff,
          { where: this.where, command: what },
          `: ${fault.detail} on each of ${tries}`,
        );
      default:
        return new KeyError(
          'EGW_KEY_DEVICE_ERROR',
          `${this.where}: ${what} got no answer: ${fault.detail} (${tries})`,
          {
            hint: 'the part stops answering on brown-outs or bus stalls: check its supply and wiring, then power-cycle the board',
          },
        );
    }
  }

  #writeRefused(zone: ZoneName, slot: number, error: Atecc608StatusError): KeyError {
    const state = this.lockState();
    const target = zone === 'data' ? `data zone slot ${slot}` : `${zone} zone`;
    if (zone === 'config' && state.config) {
      return new KeyError(
        'EGW_KEY_LOCKED',
        `${this.where}: Write to the config zone refused (status 0x0F): the config zone is locked`,
        {
          hint: 'a locked configuration is permanent',
          cause: error,
        },
      );
    }
    if (zone !== 'config' && !state.config) {
      return new KeyError(
        'EGW_KEY_LOCKED',
        `${this.where}: Write to ${target} refused (status 0x0F): the config zone must be locked before the ${zone} zone is written`,
        {
          hint: 'lock the config zone first (provisioning does this before it creates the key)',
          cause: error,
        },
      );
    }
    if (state.data) {
      return new KeyError(
        'EGW_KEY_LOCKED',
        `${this.where}: Write to ${target} refused (status 0x0F): the data zone is locked and the slot's WriteConfig forbids clear writes`,
        { hint: 'data written at provisioning is frozen by the data zone lock', cause: error },
      );
    }
    return new KeyError(
      'EGW_KEY_LOCKED',
      `${this.where}: Write to ${target} refused (status 0x0F): ${error.message}`,
      {
        hint: 'private-key slots are written only by GenKey',
        cause: error,
      },
    );
  }

  #expect(data: Uint8Array, length: number, command: string): Uint8Array {
    if (data.length !== length) {
      throw new KeyError(
        'EGW_KEY_DEVICE_ERROR',
        `${this.where}: ${command} returned ${data.length} bytes, expected ${length}`,
        {
          hint: 'the part answered something unexpected: check that it is an ATECC608A',
        },
      );
    }
    return data;
  }
}

function describeAddress(zone: ZoneName, slot: number, block: number, offset: number): string {
  return zone === 'data'
    ? `data zone slot ${slot} block ${block} word ${offset}`
    : `${zone} zone block ${block} word ${offset}`;
}
