/**
 * A 64-bit hash of a serial's content octets, as two 32-bit words written into a Uint32Array at
 * `slot` so that the pair reads as one BigUint64Array element: arrays of them sort natively and
 * are searched without a BigInt per lookup. Not cryptographic: a hit is always confirmed exactly.
 */

// Which of a 64-bit element's two 32-bit words holds the low half, on this machine.
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
export const LOW_WORD = LITTLE_ENDIAN ? 0 : 1;
export const HIGH_WORD = LITTLE_ENDIAN ? 1 : 0;

export function writeSerialHash(
  bytes: Uint8Array,
  start: number,
  end: number,
  words: Uint32Array,
  slot: number,
): void {
  // Two independent FNV-1a style lanes, each finished with murmur3's fmix32.
  let high = 0x811c9dc5 ^ (end - start);
  let low = 0x9e3779b9;
  for (let i = start; i < end; i++) {
    const byte = bytes[i] as number;
    high = Math.imul(high ^ byte, 0x01000193);
    low = Math.imul(low ^ byte, 0x5bd1e995) ^ (low >>> 13);
  }
  words[2 * slot + HIGH_WORD] = mix(high);
  words[2 * slot + LOW_WORD] = mix(low ^ 0x27d4eb2f);
}

function mix(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
