import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `openssl req -verify` on a CSR. Throws unless openssl accepts its self-signature; returns it as text. */
export function opensslVerifyCsr(pem: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'egw-csr-')), 'request.csr');
  writeFileSync(file, pem);
  const result = spawnSync('openssl', ['req', '-in', file, '-noout', '-verify', '-text'], {
    encoding: 'utf8',
  });
  if (result.error) throw new Error('openssl is missing: run scripts/setup.sh (apt-get install openssl)');
  if (result.status !== 0 || !/verify OK|self-signature ok/i.test(result.stderr + result.stdout)) {
    throw new Error(`openssl req -verify refused the CSR (exit ${result.status}): ${result.stderr}`);
  }
  return result.stdout;
}
