import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pemBlocks } from '../../src/pki/index.js';

/**
 * Certificates for the enrollment tests, made with the openssl CLI in a temporary directory as an
 * operator would make them (EC P-256). Every name is a file stem: `<name>.key`, `<name>.pem`.
 */
export class OpensslPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'egw-enroll-'));

  constructor() {
    if (spawnSync('openssl', ['version']).error) {
      throw new Error('openssl is missing: run scripts/setup.sh (apt-get install openssl)');
    }
  }

  path(file: string): string {
    return join(this.dir, file);
  }

  /** Runs openssl in the directory; throws with its stderr when it fails. */
  openssl(...args: string[]): string {
    const result = spawnSync('openssl', args, { cwd: this.dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  }

  key(name: string): void {
    this.openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  }

  /** A self-signed CA (CA:TRUE); `key` reuses another certificate's key. */
  ca(name: string, subject: string, options: { key?: string } = {}): void {
    const key = options.key ?? name;
    if (!options.key) this.key(name);
    this.openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${key}.key`,
      '-subj',
      subject,
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  }

  /** A self-signed end-entity certificate (CA:FALSE). */
  selfSignedLeaf(name: string, subject: string): void {
    this.key(name);
    this.openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      subject,
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
    );
  }

  /**
   * The proof of possession as an operator makes it: a CSR CN=<nonce> with the key `requestKey`,
   * signed by `signer` (its certificate) with `signerKey`.
   */
  verificationCertificate(
    name: string,
    nonce: string,
    options: { signer: string; signerKey?: string; requestKey?: string },
  ): Uint8Array {
    const signerKey = options.signerKey ?? options.signer;
    const requestKey = options.requestKey ?? signerKey;
    this.openssl('req', '-new', '-key', `${requestKey}.key`, '-subj', `/CN=${nonce}`, '-out', `${name}.csr`);
    this.openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${options.signer}.pem`,
      '-CAkey',
      `${signerKey}.key`,
      '-days',
      '1',
      '-out',
      `${name}.pem`,
    );
    return this.der(name);
  }

  /** The first certificate of `<name>.pem`, DER. */
  der(name: string): Uint8Array {
    const [der] = pemBlocks(readFileSync(this.path(`${name}.pem`), 'latin1'));
    if (!der) throw new Error(`${name}.pem holds no certificate`);
    return der;
  }

  pem(name: string): string {
    return readFileSync(this.path(`${name}.pem`), 'latin1');
  }

  /** The SHA-256 fingerprint as openssl computes it, in our stored form (lower-case hex, no colons). */
  sha256(name: string): string {
    const line = this.openssl('x509', '-in', `${name}.pem`, '-noout', '-fingerprint', '-sha256');
    return (line.split('=')[1] ?? '').trim().replaceAll(':', '').toLowerCase();
  }

  /** The serial as openssl prints it (upper-case hex, possibly with leading zeros). */
  serial(name: string): string {
    return (this.openssl('x509', '-in', `${name}.pem`, '-noout', '-serial').split('=')[1] ?? '').trim();
  }

  write(file: string, content: string | Uint8Array): string {
    writeFileSync(this.path(file), content);
    return this.path(file);
  }
}
