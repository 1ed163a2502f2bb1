import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { FactoryCertificates } from './key-device.js';
import { KeyError } from './key-error.js';

const FILES: Record<keyof FactoryCertificates, string> = { device: 'device.der', signer: 'signer.der' };

/**
 * The factory certificates of a TPM-held or software key, kept as DER files next to each other (`device.der`,
 * `signer.der`). A TPM has NV indices for this, but files are simpler to inspect and replace, and
 * the certificates are public anyway: the directory is 0700 and the files 0600 only so that nobody
 * else can swap them.
 *
 * Writes are atomic (temporary file, fsync, rename, fsync of the directory): a power cut leaves the
 * old certificate or the new one, never half of one.
 */
export class CertificateDirectory {
  constructor(readonly dir: string) {}

  store(certificates: FactoryCertificates): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      for (const kind of ['device', 'signer'] as const)
        this.#writeAtomically(FILES[kind], certificates[kind]);
      const dirFd = openSync(this.dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch (error) {
      throw this.#error(error, 'write');
    }
  }

  read(): Partial<FactoryCertificates> {
    const found: Partial<FactoryCertificates> = {};
    for (const kind of ['device', 'signer'] as const) {
      // Read, not existsSync() first: that says "absent" for a directory the process may not search
      // (EACCES) too, and the operator would be told no certificate is stored when it is unreadable.
      try {
        found[kind] = new Uint8Array(readFileSync(join(this.dir, FILES[kind])));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw this.#error(error, 'read');
      }
    }
    return found;
  }

  #writeAtomically(name: string, der: Uint8Array): void {
    const target = join(this.dir, name);
    const temporary = join(this.dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeSync(fd, der);
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      rmSync(temporary, { force: true });
      throw error;
    }
    closeSync(fd);
    renameSync(temporary, target);
  }

  #error(error: unknown, verb: 'read' | 'write'): KeyError {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = error instanceof Error ? error.message : String(error);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new KeyError(
        'EGW_KEY_FILE_PERMISSIONS',
        `cannot ${verb} the factory certificates in ${this.dir}: ${reason}`,
        {
          hint: `run as the gateway's service user, or give it ${this.dir} (chown; mode 0700)`,
          cause: error,
        },
      );
    }
    return new KeyError(
      'EGW_KEY_DEVICE_ERROR',
      `cannot ${verb} the factory certificates in ${this.dir}: ${reason}`,
      {
        cause: error,
      },
    );
  }
}
