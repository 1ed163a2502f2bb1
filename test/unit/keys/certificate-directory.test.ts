import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateDirectory } from '../../../src/keys/certificate-directory.js';

const dirs: string[] = [];
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), 'egw-certdir-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('CertificateDirectory', () => {
  it('reads back what it stored; an empty or missing directory holds nothing', () => {
    const dir = join(scratch(), 'identity');
    const certificates = new CertificateDirectory(dir);
    expect(certificates.read()).toEqual({});
    certificates.store({ device: new Uint8Array([1, 2, 3]), signer: new Uint8Array([4]) });
    expect(certificates.read()).toEqual({ device: new Uint8Array([1, 2, 3]), signer: new Uint8Array([4]) });
  });

  it('says it cannot read a directory it cannot reach, instead of "none stored"', () => {
    // A file where the directory should be (ENOTDIR): existsSync() said "absent" for it, as it does
    // for a directory the service user may not search (EACCES).
    const notADirectory = join(scratch(), 'identity');
    writeFileSync(notADirectory, 'oops');
    expect(() => new CertificateDirectory(notADirectory).read()).toThrow(
      expect.objectContaining({
        code: 'EGW_KEY_DEVICE_ERROR',
        message: expect.stringContaining(`cannot read the factory certificates in ${notADirectory}`),
      }),
    );
  });

  it.skipIf(process.getuid?.() === 0)(
    'names a permission problem with what to do (EACCES; not as root)',
    () => {
      const dir = scratch();
      new CertificateDirectory(dir).store({ device: new Uint8Array([1]), signer: new Uint8Array([2]) });
      chmodSync(dir, 0o000);
      expect(() => new CertificateDirectory(dir).read()).toThrow(
        expect.objectContaining({ code: 'EGW_KEY_FILE_PERMISSIONS' }),
      );
    },
  );
});
