import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InProcessKeyStore, SoftwareKeyDevice } from '../../src/keys/index.js';
import { buildCsr, type CsrProfile } from '../../src/pki/index.js';
import { opensslVerifyCsr } from '../helpers/openssl.js';

const profile: CsrProfile = {
  serial: '0123A1B2C3D4E5F6EE',
  commonName: 'device-{serial}',
  sanDns: ['device-{serial}', 'gw.example.test'],
  sanUri: ['urn:dev:serial:{serial}'],
  serverAuth: true,
  deviceType: 'edge-gateway',
  deviceTypeOid: '1.3.6.1.4.1.12345.1.1',
};

describe('CSR signed through the KeyStore', () => {
  it('is accepted by openssl req -verify and carries the profile (software backend)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-csr-'));
    const params = { path: join(dir, 'key.pem'), certificateDir: dir };
    new SoftwareKeyDevice(params).generateKey({ overwrite: false });
    const store = new InProcessKeyStore(new SoftwareKeyDevice(params));
    const csr = await buildCsr(store, profile);
    const text = opensslVerifyCsr(csr.pem);
    expect(text).toContain('Subject: CN = device-0123A1B2C3D4E5F6EE, serialNumber = 0123A1B2C3D4E5F6EE');
    expect(text).toContain(
      'DNS:device-0123A1B2C3D4E5F6EE, DNS:gw.example.test, URI:urn:dev:serial:0123A1B2C3D4E5F6EE',
    );
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
    expect(text).toMatch(
      /X509v3 Extended Key Usage:\s+TLS Web Client Authentication, TLS Web Server Authentication/,
    );
    expect(text).toMatch(/1\.3\.6\.1\.4\.1\.12345\.1\.1:\s+\.\.edge-gateway/);
    // The CSR's public key is the store's.
    const spki = execFileSync('openssl', ['req', '-pubkey', '-noout'], { input: csr.pem, encoding: 'utf8' });
    expect(spki).toContain('-----BEGIN PUBLIC KEY-----');
    const expected = Buffer.from(await store.publicKey()).toString('base64');
    expect(spki.replace(/-----[^-]+-----|\s/g, '')).toBe(expected);
  });

  it('asks for clientAuth only when serverAuth is off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-csr-'));
    const params = { path: join(dir, 'key.pem'), certificateDir: dir };
    new SoftwareKeyDevice(params).generateKey({ overwrite: false });
    const csr = await buildCsr(new InProcessKeyStore(new SoftwareKeyDevice(params)), {
      ...profile,
      serverAuth: false,
    });
    expect(opensslVerifyCsr(csr.pem)).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Client Authentication\n/);
  });
});
