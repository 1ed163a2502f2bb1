import { describe, expect, it } from 'vitest';
import {
  checkOpenSslVersion,
  MAX_CHECKED_MINOR,
  OpenSslVersionError,
  openSslRuntime,
} from '../../../src/native/openssl/index.js';

/** The OpenSSL versions the koffi bindings accept (src/native/openssl/supported-versions.ts). */
describe('checkOpenSslVersion', () => {
  it.each([
    [0x30500090, 'OpenSSL 3.5.9 29 Sep 2026', '3.5.9'], // node 24.22 / 26.12
    [0x30500000, 'OpenSSL 3.5.0 8 Apr 2025', '3.5.0'],
    [0x30000130, 'OpenSSL 3.0.19 27 Jan 2026', '3.0.19'], // node 20, Debian 12/13
    [0x30000000, 'OpenSSL 3.0.0 7 sep 2021', '3.0.0'],
    [0x30200010, 'OpenSSL 3.2.1 30 Jan 2024', '3.2.1'],
    [0x300000f0, 'OpenSSL 3.0.15+quic 3 Sep 2024', '3.0.15'], // node's own 3.0 builds carried +quic
  ])('accepts %i (%s)', (number, text, version) => {
    expect(checkOpenSslVersion(number, text)).toEqual({ verdict: 'supported', version });
  });

  it.each([
    [0x30600000, 'OpenSSL 3.6.0 1 Oct 2025', '3.6.0'],
    [0x30600020, 'OpenSSL 3.6.2 1 Apr 2026', '3.6.2'],
    [0x30a00000, 'OpenSSL 3.10.0 1 Apr 2030', '3.10.0'],
  ])(
    'starts on a newer 3.x %i (%s) with a warning: same ABI, defaults unchecked',
    (number, text, version) => {
      const support = checkOpenSslVersion(number, text);
      expect(support).toMatchObject({ verdict: 'unchecked', version });
      expect(support.verdict === 'unchecked' && support.warning).toContain(
        `OpenSSL ${version} is newer than the bindings were checked against (3.${MAX_CHECKED_MINOR})`,
      );
    },
  );

  it.each([
    [0x40000000, 'OpenSSL 4.0.0 7 Apr 2026', '4.0.0', /^OpenSSL 4\.0\.0 7 Apr 2026 is not OpenSSL 3/],
    [0x40100030, 'OpenSSL 4.1.3 1 Jan 2028', '4.1.3', /^OpenSSL 4\.1\.3 .* is not OpenSSL 3/],
    [0x1010117f, 'OpenSSL 1.1.1w  11 Sep 2023', '1.1.1w', /^OpenSSL 1\.1\.1w .* is not OpenSSL 3/],
    [0x20000000, 'LibreSSL 3.8.2', 'LibreSSL 3.8.2', /"LibreSSL 3\.8\.2", not OpenSSL/],
    [0x30500090, 'BoringSSL', 'BoringSSL', /"BoringSSL", not OpenSSL/],
    [0x30500090, '', 'unknown', /"unknown", not OpenSSL/],
  ])('refuses %i (%s)', (number, text, version, reason) => {
    const support = checkOpenSslVersion(number, text);
    expect(support).toMatchObject({ verdict: 'unsupported', version });
    expect(support.verdict === 'unsupported' && support.reason).toMatch(reason);
  });
});

describe('OpenSslVersionError', () => {
  it('has a stable code and says which runtimes work', () => {
    const error = new OpenSslVersionError('4.0.0', 'OpenSSL 4.0.0 is not OpenSSL 3');
    expect(error.code).toBe('EGW_OPENSSL_UNSUPPORTED');
    expect(error.name).toBe('OpenSslVersionError');
    expect(error.message).toBe('unsupported OpenSSL in this node runtime: OpenSSL 4.0.0 is not OpenSSL 3');
    expect(error.hint).toMatch(/node 24 or 26 \(OpenSSL 3\.5\)/);
    expect(error.version).toBe('4.0.0');
  });
});

describe("this node's OpenSSL", () => {
  it('is one the bindings were written for', () => {
    const support = openSslRuntime();
    expect(support.verdict).toBe('supported');
    expect(support.version).toBe(process.versions.openssl.replace(/[^0-9.].*$/, ''));
  });
});
