import { createHmac } from 'node:crypto';

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
  const output: Buffer[] = [];
  let produced = 0;
  let a: Buffer = labelAndSeed; // A(0)
  while (produced < length) {
    a = createHmac(hash, secret).update(a).digest();
    const block = createHmac(hash, secret).update(a).update(labelAndSeed).digest();
    output.push(block);
    produced += block.length;
  }
  return Buffer.concat(output).subarray(0, length);
}
