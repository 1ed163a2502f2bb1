import { webcrypto } from 'node:crypto';

/**
 * ECDSA P-256 keys for the test CA, as node's WebCrypto keys (what @peculiar/x509 signs with) and as
 * PKCS#8 PEM (what the state directory and node:tls keep).
 */

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** A fresh extractable P-256 pair: extractable so it can be written to the state directory once. */
export function generateEcKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** A PKCS#8 PEM P-256 private key, for signing only (not extractable once loaded). */
export function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const body = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/.exec(pem)?.[1];
  if (!body) throw new Error('not a PKCS#8 PEM private key (no BEGIN PRIVATE KEY block)');
  return webcrypto.subtle.importKey('pkcs8', Buffer.from(body, 'base64'), ALGORITHM, false, ['sign']);
}
