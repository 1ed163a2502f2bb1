import { MAX_LINE_BYTES } from './protocol.js';

/**
 * Splits a byte stream into newline-terminated lines. Calls `onOverflow` (and stops) when a line
 * grows past MAX_LINE_BYTES without a newline, so a misbehaving peer cannot make us buffer forever.
 */
export class LineSplitter {
  #pending = '';
  #overflowed = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(chunk: Buffer | string): void {
    if (this.#overflowed) return;
    this.#pending += chunk.toString();
    for (let newline = this.#pending.indexOf('\n'); newline >= 0; newline = this.#pending.indexOf('\n')) {
      const line = this.#pending.slice(0, newline);
      this.#pending = this.#pending.slice(newline + 1);
      if (line.trim()) this.onLine(line);
    }
    if (Buffer.byteLength(this.#pending) > MAX_LINE_BYTES) {
      this.#overflowed = true;
      this.#pending = '';
      this.onOverflow();
    }
  }
}
