import { hmac, hmacInto } from '../../../native/openssl/libcrypto-hmac.js';

/**
 * The TLS 1.2 pseudo-random function (RFC 5246 §5): P_hash(secret, label + seed), cut to `length`.
 * DTLS 1.2 uses it unchanged to expand the master secret into the key block.
 */
export function tls12Prf(
  hash: 'sha256' | 'sha384',
  secret: Uint8Array,
  label: string,
  seed: Uint8Array,
  length: number,
): Buffer {
  const labelAndSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const digestLength = hash === 'sha384' ? 48 : 32;
  // A(i) | label | seed in one buffer: A(i) is written in place, each block is one HMAC call.
  const input = Buffer.alloc(digestLength + labelAndSeed.length);
  labelAndSeed.copy(input, digestLength);
  const output: Buffer[] = [];
  let produced = 0;
  let a: Uint8Array = labelAndSeed; // A(0)
  while (produced < length) {
    // A(i) = HMAC(secret, A(i-1)), over the head of `input` (HMAC() reads all of it before writing).
    hmacInto(hash, secret, a, input);
    a = input.subarray(0, digestLength);
    const block = hmac(hash, secret, input);
    output.push(block);
    produced += block.length;
  }
  return Buffer.concat(output).subarray(0, length);
}
