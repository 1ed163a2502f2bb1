/** A Block1/Block2 option value (RFC 7959 §2.2): block number, more flag, size exponent. */
export interface BlockOption {
  num: number;
  more: boolean;
  /** SZX: the block size is 2^(szx+4) bytes, 16 to 1024; 7 is BERT, for CoAP over TCP only. */
  szx: number;
}

/** The block size in bytes an option announces. */
export function blockSize(block: BlockOption): number {
  return 16 << block.szx;
}

/** Reads an option value of 0 to 3 bytes; undefined when longer or when it announces BERT (SZX 7). */
export function parseBlockOption(value: Uint8Array): BlockOption | undefined {
  if (value.length > 3) return undefined;
  let number = 0;
  for (const byte of value) number = (number << 8) | byte;
  const block = { num: number >> 4, more: (number & 0x08) !== 0, szx: number & 0x07 };
  return block.szx === 7 ? undefined : block;
}

/** The shortest option value for `block` (zero is the empty value, RFC 7252 §3.2 uint). */
export function blockOptionValue(block: BlockOption): Buffer {
  const number = (block.num << 4) | (block.more ? 0x08 : 0) | block.szx;
  if (number === 0) return Buffer.alloc(0);
  if (number <= 0xff) return Buffer.from([number]);
  if (number <= 0xffff) return Buffer.from([number >> 8, number & 0xff]);
  return Buffer.from([number >> 16, (number >> 8) & 0xff, number & 0xff]);
}

/** Bytes a DTLS record (header, explicit nonce, tag) and a CoAP response head (token, options) may add. */
const DATAGRAM_OVERHEAD = 128;

/** The SZX of the largest block (16 to 1,024 bytes) that fits a datagram of `mtu` bytes with its headers. */
export function largestBlockSzx(mtu: number): number {
  let szx = 6;
  while (szx > 0 && 16 << szx > mtu - DATAGRAM_OVERHEAD) szx--;
  return szx;
}
