import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tls12Prf } from '../../../../src/tls/dtls/record-layer/index.js';

/** OpenSSL's own TLS 1.2 PRF (EVP_KDF TLS1-PRF) through the openssl command, as the reference. */
function opensslPrf(hash: string, secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const output = execFileSync('openssl', [
    'kdf',
    '-keylen',
    String(length),
    '-kdfopt',
    `digest:${hash}`,
    '-kdfopt',
    `hexsecret:${secret.toString('hex')}`,
    '-kdfopt',
    `hexseed:${Buffer.concat([Buffer.from(label, 'latin1'), seed]).toString('hex')}`,
    'TLS1-PRF',
  ]).toString();
  return Buffer.from(output.trim().replaceAll(':', ''), 'hex');
}

describe('tls12Prf', () => {
  for (const [hash, length] of [
    ['sha256', 40],
    ['sha256', 104],
    ['sha384', 72],
  ] as const) {
    it(`matches openssl kdf TLS1-PRF (${hash}, ${length} bytes)`, () => {
      const secret = randomBytes(48);
      const seed = randomBytes(64);
      expect(tls12Prf(hash, secret, 'key expansion', seed, length).toString('hex')).toBe(
        opensslPrf(hash.toUpperCase(), secret, 'key expansion', seed, length).toString('hex'),
      );
    });
  }
});
