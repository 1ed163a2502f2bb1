import { createHash, createPublicKey, verify } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InProcessKeyStore, SoftwareKeyDevice } from '../../../src/keys/index.js';

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'egw-soft-'));
  return { path: join(dir, 'keys', 'identity-key.pem'), certificateDir: join(dir, 'identity') };
}

describe('SoftwareKeyDevice', () => {
  it('creates a 0600 PKCS#8 key whose signatures verify, and reports itself as not hardware-backed', async () => {
    const params = fresh();
    const device = new SoftwareKeyDevice(params);
    expect(device.hasKey()).toBe(false);
    const spki = device.generateKey({ overwrite: false });
    expect(statSync(params.path).mode & 0o777).toBe(0o600);
    expect(readFileSync(params.path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);

    const store = new InProcessKeyStore(new SoftwareKeyDevice(params));
    expect(store.info).toMatchObject({
      backend: 'software',
      hardwareBacked: false,
      keyLocation: params.path,
    });
    expect(store.info.serial).toMatch(/^[0-9A-F]{18}$/);
    expect(await store.publicKey()).toEqual(spki);
    const data = Buffer.from('telemetry');
    const signature = await store.signDigest(createHash('sha256').update(data).digest());
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    expect(verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    expect(verify('sha256', Buffer.from('tampered'), { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(
      false,
    );
    const health = await store.healthCheck();
    expect(health.ok).toBe(true);
    expect(health.checks.map((c) => c.name)).toEqual(['sign/verify round trip', 'hardware-backed']);
    await store.close();
  });

  it('refuses to overwrite a key unless asked to, and then makes a different one', () => {
    const params = fresh();
    const device = new SoftwareKeyDevice(params);
    const first = device.generateKey({ overwrite: false });
    expect(() => device.generateKey({ overwrite: false })).toThrow(
      expect.objectContaining({
        code: 'EGW_KEY_EXISTS',
        message: `a software identity key already exists at ${params.path}`,
      }),
    );
    expect(device.generateKey({ overwrite: true })).not.toEqual(first);
  });

  it('refuses a key file that group or others can read', () => {
    const params = fresh();
    new SoftwareKeyDevice(params).generateKey({ overwrite: false });
    chmodSync(params.path, 0o640);
    expect(() => new SoftwareKeyDevice(params).open()).toThrow(
      expect.objectContaining({
        code: 'EGW_KEY_FILE_PERMISSIONS',
        message: `software identity key ${params.path} is readable by group or others (mode 640)`,
      }),
    );
  });

  it('says how to create a missing key', () => {
    const params = fresh();
    expect(() => new SoftwareKeyDevice(params).open()).toThrow(
      expect.objectContaining({
        code: 'EGW_KEY_NOT_FOUND',
        hint: expect.stringContaining('gatewayctl provision factory'),
      }),
    );
  });

  it('stores and reads back factory certificates byte for byte, 0600', () => {
    const params = fresh();
    const device = new SoftwareKeyDevice(params);
    const certificates = { device: new Uint8Array([1, 2, 3]), signer: new Uint8Array([4, 5]) };
    expect(device.readCertificates()).toEqual({});
    device.storeCertificates(certificates);
    expect(device.readCertificates()).toEqual(certificates);
    expect(statSync(join(params.certificateDir, 'device.der')).mode & 0o777).toBe(0o600);
  });

  it('rejects a digest of the wrong size', async () => {
    const params = fresh();
    new SoftwareKeyDevice(params).generateKey({ overwrite: false });
    const store = new InProcessKeyStore(new SoftwareKeyDevice(params));
    await expect(store.signDigest(new Uint8Array(20))).rejects.toMatchObject({ code: 'EGW_KEY_BAD_DIGEST' });
  });
});
