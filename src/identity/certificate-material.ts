import { readFileSync } from 'node:fs';
import { GatewayError } from '../errors/index.js';
import { X509Certificate } from '../pki/index.js';

/** Reads one X.509 certificate from a PEM or DER file; a clear error names the file otherwise. */
export function readCertificateFile(path: string): X509Certificate {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new GatewayError(
      'EGW_PROVISION_INPUT',
      `cannot read certificate ${path}: ${(cause as Error).message}`,
      { cause },
    );
  }
  try {
    const text = bytes.toString('latin1');
    return new X509Certificate(text.includes('-----BEGIN CERTIFICATE-----') ? text : new Uint8Array(bytes));
  } catch (cause) {
    throw new GatewayError('EGW_PROVISION_INPUT', `${path} is not an X.509 certificate (PEM or DER)`, {
      hint: 'pass the certificate file the factory CA issued (scripts/factory-ca.sh sign … OUT)',
      cause,
    });
  }
}

export function sameBytes(a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array): boolean {
  return Buffer.from(a instanceof Uint8Array ? a : new Uint8Array(a)).equals(
    Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)),
  );
}
