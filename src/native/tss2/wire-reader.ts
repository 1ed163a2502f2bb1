/**
 * Reads TPM wire format (big-endian integers, TPM2B = uint16 size + bytes) with bounds checks, so a
 * truncated structure is an error that says where, not an out-of-range read.
 */
export class WireReader {
  #offset = 0;
  readonly #view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.bytes.length - this.#offset;
  }

  u8(): number {
    this.#need(1);
    return this.#view.getUint8(this.#offset++);
  }

  u16(): number {
    this.#need(2);
    const value = this.#view.getUint16(this.#offset);
    this.#offset += 2;
    return value;
  }

  u32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return value;
  }

  bytesOf(length: number): Uint8Array {
    this.#need(length);
    const value = this.bytes.slice(this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }

  /** A TPM2B_*: uint16 size, then that many bytes. */
  tpm2b(): Uint8Array {
    return this.bytesOf(this.u16());
  }

  #need(length: number): void {
    if (this.#offset + length > this.bytes.length) {
      throw new Error(
        `truncated ${this.what}: need ${length} bytes at offset ${this.#offset} of ${this.bytes.length}`,
      );
    }
  }
}
