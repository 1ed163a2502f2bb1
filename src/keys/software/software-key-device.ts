import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { EcdsaDigestSigner } from '../../native/openssl/index.js';
import { CertificateDirectory } from '../certificate-directory.js';
import type { FactoryCertificates, ProvisionableKeyDevice } from '../key-device.js';
import { KeyError } from '../key-error.js';
import type { KeyStoreInfo } from '../key-store.js';

export interface SoftwareDeviceParams {
  /** PKCS#8 PEM file of the key. */
  path: string;
  certificateDir: string;
}

/**
 * The development key store: an EC P-256 key in a PKCS#8 file. It is never hardware-backed and
 * always says so. The file must be private to its owner (0600); anything looser is refused.
 */
export class SoftwareKeyDevice implements ProvisionableKeyDevice {
  readonly params: SoftwareDeviceParams;
  readonly #certificates: CertificateDirectory;
  #signer: EcdsaDigestSigner | undefined;
  #spki: Uint8Array | undefined;

  constructor(params: SoftwareDeviceParams) {
    this.params = params;
    this.#certificates = new CertificateDirectory(params.certificateDir);
  }

  connect(): KeyStoreInfo {
    return {
      backend: 'software',
      hardwareBacked: false,
      model: 'software key (PKCS#8 file, development only)',
      serial: machineSerial(),
      keyLocation: this.params.path,
      simulated: 'the software key store keeps the key in a PKCS#8 file (development only)',
    };
  }

  open(): KeyStoreInfo {
    const info = this.connect();
    this.#load();
    return info;
  }

  hasKey(): boolean {
    try {
      statSync(this.params.path);
      return true;
    } catch {
      return false;
    }
  }

  publicKey(): Uint8Array {
    this.#load();
    return this.#spki as Uint8Array;
  }

  signDigest(digest: Uint8Array): Uint8Array {
    return this.#load().sign(digest);
  }

  generateKey({ overwrite }: { overwrite: boolean }): Uint8Array {
    const { path } = this.params;
    if (this.hasKey() && !overwrite) {
      throw new KeyError('EGW_KEY_EXISTS', `a software identity key already exists at ${path}`, {
        hint: 'use --force to replace it (the old key is lost)',
      });
    }
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const temporary = `${path}.tmp-${process.pid}`;
    writeFileSync(temporary, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
    this.close();
    return this.publicKey();
  }

  storeCertificates(certificates: FactoryCertificates): void {
    this.#certificates.store(certificates);
  }

  readCertificates(): Partial<FactoryCertificates> {
    return this.#certificates.read();
  }

  lockState(): null {
    return null;
  }

  lock(): void {
    throw new KeyError('EGW_KEY_DEVICE_ERROR', 'the software key store has no lockable zones');
  }

  healthChecks() {
    return [
      {
        name: 'hardware-backed',
        ok: true,
        detail:
          'no: software key for development; use identity.key.backend = "tpm" or "atecc608" in production',
      },
    ];
  }

  close(): void {
    this.#signer?.free();
    this.#signer = undefined;
    this.#spki = undefined;
  }

  #load(): EcdsaDigestSigner {
    if (this.#signer) return this.#signer;
    const { path } = this.params;
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch (cause) {
      throw new KeyError('EGW_KEY_NOT_FOUND', `no software identity key at ${path}`, {
        hint: 'create one with `gatewayctl provision factory` (identity.key.backend = "software")',
        cause,
      });
    }
    if ((mode & 0o077) !== 0) {
      throw new KeyError(
        'EGW_KEY_FILE_PERMISSIONS',
        `software identity key ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)})`,
        { hint: `chmod 600 ${path}, and consider the key compromised if others could read it` },
      );
    }
    const privateKey = createPrivateKey(readFileSync(path));
    this.#spki = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
    this.#signer = new EcdsaDigestSigner(privateKey.export({ format: 'der', type: 'pkcs8' }));
    return this.#signer;
  }
}

/** A stable serial for a machine without a secure element: from /etc/machine-id, else the hostname. */
function machineSerial(): string {
  let seed: string;
  try {
    seed = readFileSync('/etc/machine-id', 'utf8').trim();
  } catch {
    seed = hostname();
  }
  return createHash('sha256').update(`edge-gatewayd:${seed}`).digest('hex').slice(0, 18).toUpperCase();
}
