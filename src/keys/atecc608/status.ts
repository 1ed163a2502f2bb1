import { KeyError } from '../key-error.js';

/**
 * Status bytes of the ATECC608A (the one-byte payload of a 4-byte response packet), as an error an
 * operator can act on. `transient` statuses are retried by the driver before they surface.
 */
interface StatusInfo {
  text: string;
  hint: string;
  transient: boolean;
}

const STATUS: Record<number, StatusInfo> = {
  1: {
    text: 'CheckMac/Verify miscompare',
    hint: 'the signature or MAC did not match: check the key, the message digest and the public key used',
    transient: false,
  },
  3: {
    text: 'parse error (illegal opcode, mode, address or length)',
    hint: 'the part rejected the command as malformed: a driver or configuration mismatch (report it with the opcode and parameters)',
    transient: false,
  },
  5: {
    text: 'ECC fault (computation error)',
    hint: 'the part failed an ECC computation; it was retried: if it repeats, check the supply voltage',
    transient: true,
  },
  7: {
    text: 'self-test error',
    hint: 'the part failed its power-on self test and refuses cryptographic commands: replace it',
    transient: false,
  },
  8: {
    text: 'health-test error (random number generator)',
    hint: 'the part’s random number generator failed its health test: power-cycle the board; replace the part if it repeats',
    transient: false,
  },
  15: {
    text: 'execution error (not allowed in this state: zone locked, slot configuration forbids it, key or TempKey not valid)',
    hint: 'check the lock state (gatewayctl provision status) and the slot configuration',
    transient: false,
  },
  17: {
    text: 'after-wake status (the part reset or woke without receiving the command)',
    hint: 'the part lost the command: check the supply and the I2C wiring (brown-outs reset it)',
    transient: true,
  },
  238: {
    text: 'watchdog about to expire (not enough time left to execute)',
    hint: 'the driver re-wakes the part before long commands; if this repeats, the bus is too slow or stalls',
    transient: true,
  },
  255: {
    text: 'CRC or communication error',
    hint: 'frames are corrupted on the bus: check wiring, pull-up resistors, cable length and the bus speed (100 kHz is safest)',
    transient: true,
  },
};

export const STATUS_OK = 0x00;
export const STATUS_AFTER_WAKE = 0x11;
export const STATUS_WATCHDOG = 0xee;
export const STATUS_CRC = 0xff;

export function statusText(status: number): string {
  return STATUS[status]?.text ?? 'unknown status';
}

export function isTransientStatus(status: number): boolean {
  return STATUS[status]?.transient ?? false;
}

/** Where a status came from, for the message: "ATECC608A on /dev/i2c-1 address 0x60: Sign (0x41)". */
export interface StatusContext {
  where: string;
  command: string;
}

/** A non-zero status byte from the part. `status` lets callers refine (e.g. 0x0F on a locked zone). */
export class Atecc608StatusError extends KeyError {
  readonly status: number;

  constructor(status: number, context: StatusContext, detail = '') {
    const info = STATUS[status];
    super(
      'EGW_KEY_DEVICE_ERROR',
      `${context.where}: ${context.command} failed with status 0x${hex2(status)} (${info?.text ?? 'unknown status'})${detail}`,
      { hint: info?.hint ?? 'unexpected status byte: power-cycle the part and retry' },
    );
    this.status = status;
  }
}

export function hex2(value: number): string {
  return value.toString(16).padStart(2, '0').toUpperCase();
}
