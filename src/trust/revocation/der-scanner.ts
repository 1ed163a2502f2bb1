import { TrustError } from '../trust-error.js';

/**
 * A strict DER reader that walks offsets instead of building objects: a 1,000,000-entry CRL is
 * read element by element without allocating per element. `read()` leaves the element's tag and
 * value bounds in the fields below; the caller moves on to `end`.
 *
 * Strict means: low tag numbers, definite minimal lengths (up to four length octets, ~4 GB),
 * every element inside its parent. Anything else is EGW_TRUST_MALFORMED naming the offset.
 */
export class DerScanner {
  readonly der: Uint8Array;
  /** What is being read, for error messages ("CRL from http://…"). */
  readonly subject: string;
  /** Tag of the element last read. */
  tag = 0;
  /** Offset of the first value octet of the element last read. */
  start = 0;
  /** Offset just past the element last read. */
  end = 0;

  constructor(der: Uint8Array, subject: string) {
    this.der = der;
    this.subject = subject;
  }

  /** Reads the element at `offset`, which must end by `limit` and (when given) carry `expectedTag`. */
  read(offset: number, limit: number, what: string, expectedTag = -1): this {
    const der = this.der;
    if (offset + 2 > limit) this.fail(offset, `${what}: truncated (no room for a tag and length)`);
    const tag = der[offset] as number;
    if ((tag & 0x1f) === 0x1f) this.fail(offset, `${what}: high tag numbers are not used here`);
    if (expectedTag >= 0 && tag !== expectedTag) {
      this.fail(offset, `${what}: expected tag 0x${hex(expectedTag)}, found 0x${hex(tag)}`);
    }
    const first = der[offset + 1] as number;
    let length = first;
    let start = offset + 2;
    if (first & 0x80) {
      const count = first & 0x7f;
      if (count === 0) this.fail(offset, `${what}: indefinite length is not DER`);
      if (count > 4) this.fail(offset, `${what}: length of ${count} octets is not supported`);
      if (start + count > limit) this.fail(offset, `${what}: truncated length`);
      if (der[start] === 0) this.fail(offset, `${what}: non-minimal length`);
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + (der[start + i] as number);
      if (length < 0x80) this.fail(offset, `${what}: non-minimal length`);
      start += count;
    }
    const end = start + length;
    if (end > limit) {
      this.fail(offset, `${what}: truncated (declares ${length} octets, ${Math.max(0, limit - start)} left)`);
    }
    this.tag = tag;
    this.start = start;
    this.end = end;
    return this;
  }

  /** The value of the element last read (a view, not a copy). */
  value(): Uint8Array {
    return this.der.subarray(this.start, this.end);
  }

  /**
   * The element last read as a UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5: Z, seconds, no
   * fraction), in ms since the epoch.
   */
  time(what: string): number {
    const der = this.der;
    const start = this.start;
    const length = this.end - start;
    let year: number;
    let at: number;
    if (this.tag === 0x17 && length === 13) {
      const yy = this.#digits(start, 2, what);
      year = yy >= 50 ? 1900 + yy : 2000 + yy;
      at = start + 2;
    } else if (this.tag === 0x18 && length === 15) {
      year = this.#digits(start, 4, what);
      at = start + 4;
    } else {
      return this.fail(start, `${what}: not a UTCTime/GeneralizedTime of the form RFC 5280 requires`);
    }
    if (der[this.end - 1] !== 0x5a) this.fail(start, `${what}: time does not end in Z`);
    const month = this.#digits(at, 2, what);
    const day = this.#digits(at + 2, 2, what);
    const hour = this.#digits(at + 4, 2, what);
    const minute = this.#digits(at + 6, 2, what);
    const second = this.#digits(at + 8, 2, what);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
      this.fail(start, `${what}: time out of range`);
    }
    // Date.UTC would roll 31 February over into March: a date that does not exist is refused.
    if (day > daysInMonth(year, month)) this.fail(start, `${what}: no such date`);
    return Date.UTC(year, month - 1, day, hour, minute, second);
  }

  /**
   * Checks that the element last read is a minimally encoded, non-empty INTEGER value (X.690
   * §8.3.2): a serial written two ways would not match the certificate's.
   */
  minimalInteger(what: string): void {
    const der = this.der;
    const length = this.end - this.start;
    if (length === 0) this.fail(this.start, `${what}: empty INTEGER`);
    if (length > 1) {
      const first = der[this.start] as number;
      const second = der[this.start + 1] as number;
      if ((first === 0 && second < 0x80) || (first === 0xff && second >= 0x80)) {
        this.fail(this.start, `${what}: non-minimal INTEGER`);
      }
    }
  }

  /** Throws EGW_TRUST_MALFORMED for `offset`. */
  fail(offset: number, problem: string): never {
    throw new TrustError('EGW_TRUST_MALFORMED', `${this.subject}: ${problem} at offset ${offset}`, {
      hint: 'the file is not a DER (or PEM) CRL as RFC 5280 defines it; fetch it again or ask its CA',
    });
  }

  #digits(offset: number, count: number, what: string): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      const digit = (this.der[offset + i] as number) - 0x30;
      if (digit < 0 || digit > 9) this.fail(offset + i, `${what}: not a digit in a time`);
      value = value * 10 + digit;
    }
    return value;
  }
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function hex(value: number): string {
  return value.toString(16).padStart(2, '0');
}
