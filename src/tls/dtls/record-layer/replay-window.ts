/**
 * The anti-replay window of RFC 6347 §4.1.2.6 (64 records, as RFC 4303 §3.4.3): a record number is
 * accepted once, and only if it is newer than the window's start. Numbers are marked only after the
 * record authenticated, so forged records cannot move the window.
 */
export class ReplayWindow {
  static readonly SIZE = 64;
  /** Highest sequence number accepted so far; -1 before the first. */
  #highest = -1;
  /** Bit i set: #highest - i was accepted. Two 32-bit halves (bits 0–31, 32–63). */
  #low = 0;
  #high = 0;

  /** Whether `sequence` is new (not seen, not older than the window). Does not mark it. */
  isFresh(sequence: number): boolean {
    if (sequence > this.#highest) return true;
    const age = this.#highest - sequence;
    if (age >= ReplayWindow.SIZE) return false;
    return !this.#bit(age);
  }

  /** Records `sequence` as received (call once the record authenticated). */
  mark(sequence: number): void {
    if (sequence > this.#highest) {
      const shift = this.#highest < 0 ? ReplayWindow.SIZE : sequence - this.#highest;
      this.#shift(shift);
      this.#highest = sequence;
      this.#low |= 1;
      return;
    }
    const age = this.#highest - sequence;
    if (age < ReplayWindow.SIZE) this.#set(age);
  }

  #bit(age: number): boolean {
    return age < 32 ? ((this.#low >>> age) & 1) === 1 : ((this.#high >>> (age - 32)) & 1) === 1;
  }

  #set(age: number): void {
    if (age < 32) this.#low |= 1 << age;
    else this.#high |= 1 << (age - 32);
  }

  #shift(by: number): void {
    if (by >= 64) {
      this.#low = 0;
      this.#high = 0;
    } else if (by >= 32) {
      this.#high = by === 32 ? this.#low : this.#low << (by - 32);
      this.#low = 0;
    } else if (by > 0) {
      this.#high = (this.#high << by) | (this.#low >>> (32 - by));
      this.#low = this.#low << by;
    }
  }
}
