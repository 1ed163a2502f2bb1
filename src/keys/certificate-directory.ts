import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FactoryCertificates } from './key-device.js';

/**
 * Factory certificates kept as DER files beside the state database, for backends whose part has
 * no room for them (TPM: NV space is scarce and shared; software). Written atomically, 0600.
 */
export class CertificateFiles {
  constructor(readonly directory: string) {}

  store(certificates: FactoryCertificates): void {
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    for (const [name, der] of Object.entries(certificates) as [keyof FactoryCertificates, Uint8Array][]) {
      const target = this.#path(name);
      const temporary = `${target}.tmp-${process.pid}`;
      writeFileSync(temporary, der, { mode: 0o600 });
      chmodSync(temporary, 0o600);
      renameSync(temporary, target);
    }
  }

  read(): Partial<FactoryCertificates> {
    const found: Partial<FactoryCertificates> = {};
    for (const name of ['device', 'signer'] as const) {
      try {
        found[name] = new Uint8Array(readFileSync(this.#path(name)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return found;
  }

  #path(name: keyof FactoryCertificates): string {
    return join(this.directory, `${name}.der`);
  }
}
