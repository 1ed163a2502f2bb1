import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { signingRate } from '../../../src/downstream/signing-rate.js';
import type { KeyBackend, KeyStore } from '../../../src/keys/index.js';

const defaults = { stateDirectory: '/tmp/s', runtimeDirectory: '/tmp/r' };
const dtls = (extra = '') =>
  parseConfigText(`[downstream.dtls]\n${extra}`, 'x.toml', defaults).downstream.dtls;

/** A key store whose signatures take `ms` (or fail). */
function keyStore(backend: KeyBackend, ms: number | 'fails'): KeyStore {
  return {
    info: {
      backend,
      hardwareBacked: backend !== 'software',
      model: backend,
      serial: '1',
      keyLocation: 'slot 0',
    },
    signDigest: async () => {
      if (ms === 'fails') throw new Error('device gone');
      await new Promise((resolve) => setTimeout(resolve, ms));
      return new Uint8Array(64);
    },
  } as unknown as KeyStore;
}

describe('signingRate', () => {
  it('takes a configured rate as is', async () => {
    expect(await signingRate(dtls('signatures_per_second = 7'), keyStore('atecc608', 'fails'))).toEqual({
      perSecond: 7,
      source: 'configured',
    });
  });

  it('measures the identity key: a 100 ms signer signs ~10 a second', async () => {
    const rate = await signingRate(dtls(), keyStore('atecc608', 100));
    expect(rate.source).toBe('measured');
    expect(rate.perSecond).toBeLessThanOrEqual(10);
    expect(rate.perSecond).toBeGreaterThan(2);
  });

  it('falls back to the backend figure when the key cannot sign, and to software for a key file', async () => {
    expect(await signingRate(dtls(), keyStore('atecc608', 'fails'))).toEqual({
      perSecond: 8,
      source: 'backend default',
    });
    expect(await signingRate(dtls(), keyStore('tpm', 'fails'))).toMatchObject({ perSecond: 20 });
    const file = dtls('server_key = "file"\nkey_file = "/k.pem"\ncertificate_file = "/c.pem"');
    expect(await signingRate(file, undefined)).toEqual({ perSecond: 1000, source: 'backend default' });
  });

  it('rejects a bad value with its key', () => {
    expect(() => dtls('handshakes_per_second = "fast"')).toThrow(/handshakes_per_second/);
    expect(() => dtls('half_open_handshakes_per_address = 0')).toThrow(/half_open_handshakes_per_address/);
  });
});
