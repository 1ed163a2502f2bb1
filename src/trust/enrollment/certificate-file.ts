import { readFileSync } from 'node:fs';
import { pemBlocks } from '../../pki/index.js';
import { parseCertificate } from '../parse-certificate.js';
import { TrustError } from '../trust-error.js';

/**
 * Every certificate in a file an operator names (PEM with one or more blocks, or a single DER
 * certificate), as DER, each checked to parse: an import never stores half-readable data.
 */
export function readCertificatesFromFile(path: string): Uint8Array[] {
  const ders = readCertificateBlobs(path);
  for (const [index, der] of ders.entries()) {
    parseCertificate(der, ders.length > 1 ? `${path} (certificate ${index + 1})` : path);
  }
  return ders;
}

/** The same, unchecked: for callers that judge (and explain) an unparseable certificate themselves. */
export function readCertificateBlobs(path: string): Uint8Array[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new TrustError('EGW_TRUST_INVALID_ARGUMENT', `cannot read ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  const text = bytes.toString('latin1');
  return text.includes('-----BEGIN CERTIFICATE-----') ? pemBlocks(text) : [new Uint8Array(bytes)];
}
