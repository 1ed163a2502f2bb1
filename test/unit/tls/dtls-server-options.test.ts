import { describe, expect, it } from 'vitest';
import { DEFAULT_DTLS_CIPHERS, resolveDtlsServerOptions } from '../../../src/tls/dtls/dtls-server-options.js';

const base = { certificateChain: [new Uint8Array([1])], privateKey: 1n, ca: [new Uint8Array([2])] };

describe('resolveDtlsServerOptions', () => {
  it('fills in the defaults', () => {
    const options = resolveDtlsServerOptions(base);
    expect(options).toMatchObject({
      ciphers: DEFAULT_DTLS_CIPHERS,
      mtu: 1200,
      requireClientAuthEku: true,
      sessionCache: { size: 2048, timeoutSeconds: 3600 },
      maxHandshakeMessageBytes: 8192,
    });
    expect(options.verifyPeer([])).toEqual({ ok: true });
    expect(DEFAULT_DTLS_CIPHERS).toContain('ECDHE-ECDSA-AES128-CCM8');
  });

  it.each([
    [{ certificateChain: [] }, /certificateChain/],
    [{ ca: [] }, /ca needs at least one trust anchor/],
    [{ privateKey: null }, /privateKey/],
    [{ mtu: 100 }, /mtu must be an integer from 256/],
    [{ maxSessions: 0 }, /maxSessions/],
    [
      { handshakeRate: { perAddress: { ratePerSecond: 0, burst: 1 } } },
      /handshakeRate.perAddress.ratePerSecond/,
    ],
    [{ sessionIdContext: 'x'.repeat(40) }, /sessionIdContext/],
  ])('rejects %o with the option name', (override, message) => {
    expect(() => resolveDtlsServerOptions({ ...base, ...override })).toThrow(message);
    try {
      resolveDtlsServerOptions({ ...base, ...override });
    } catch (error) {
      expect((error as { code: string }).code).toBe('EGW_TLS_CONFIG');
    }
  });

  it('sizes the signature budget from the signer: one address stays below what it signs', () => {
    const atecc = resolveDtlsServerOptions({ ...base, signaturesPerSecond: 9 });
    expect(atecc.globalRate).toEqual({ ratePerSecond: 7.2, burst: 8 });
    expect(atecc.perAddressRate).toEqual({ ratePerSecond: 1.8, burst: 2 });
    const software = resolveDtlsServerOptions(base);
    expect(software.globalRate).toEqual({ ratePerSecond: 800, burst: 800 });
    expect(software.perAddressRate).toEqual({ ratePerSecond: 200, burst: 200 });
    // a configured rate keeps its own burst rule; a configured burst is taken as is
    const mixed = resolveDtlsServerOptions({
      ...base,
      signaturesPerSecond: 9,
      handshakeRate: { perAddress: { burst: 5 }, global: { ratePerSecond: 3 } },
    });
    expect(mixed.globalRate).toEqual({ ratePerSecond: 3, burst: 3 });
    expect(mixed.perAddressRate).toEqual({ ratePerSecond: 0.75, burst: 5 });
    expect(software).toMatchObject({
      halfOpenPerAddress: 8,
      halfOpenGlobal: 256,
      ipv6PrefixLength: 64,
      cookieLifetimeMs: 30_000,
    });
  });

  it('can turn resumption off', () => {
    expect(resolveDtlsServerOptions({ ...base, sessionCache: false }).sessionCache).toBe(false);
  });
});
