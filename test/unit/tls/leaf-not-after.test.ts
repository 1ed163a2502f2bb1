import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leafNotAfter, notAfterFromDer } from '../../../src/tls/dtls/leaf-not-after.js';

const dir = mkdtempSync(join(tmpdir(), 'egw-not-after-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed P-256 certificate valid for `days`, as DER (openssl writes GeneralizedTime from 2050). */
function certificate(days: number, name: string): Uint8Array {
  const pem = join(dir, `${name}.pem`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, `${name}.key`), '-out', pem, '-days', String(days), '-subj', `/CN=${name}`,
  ], { stdio: 'ignore' }); // biome-ignore format: one openssl command line
  return new X509Certificate(readFileSync(pem)).raw;
}

describe('leafNotAfter', () => {
  it('reads notAfter as node:crypto does, from a UTCTime and a GeneralizedTime', () => {
    for (const [days, name] of [
      [30, 'utc-time'],
      [365 * 40, 'generalized-time'],
    ] as const) {
      const der = certificate(days, name);
      const expected = Date.parse(new X509Certificate(der).validTo);
      expect(notAfterFromDer(der)).toBe(expected); // the short walk itself, not the fallback
      expect(leafNotAfter(der)).toBe(expected);
      if (name === 'generalized-time')
        expect(new Date(expected).getUTCFullYear()).toBeGreaterThanOrEqual(2050);
    }
  });

  it('falls back to node:crypto on what its short walk does not read (and so refuses garbage)', () => {
    const der = certificate(30, 'fallback');
    // Not a SEQUENCE at the top: the walk gives up, node:crypto's parser decides (and throws).
    const broken = Uint8Array.from(der);
    broken[0] = 0x31;
    expect(notAfterFromDer(broken)).toBeUndefined();
    expect(() => leafNotAfter(broken)).toThrow();
  });
});
