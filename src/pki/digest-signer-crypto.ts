import { createHash, webcrypto } from 'node:crypto';

type Crypto = webcrypto.Crypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SubtleCrypto = webcrypto.SubtleCrypto;

/** What pki needs from a key: the public half and ECDSA over a digest (a KeyStore fits). */
export interface DigestSigner {
  publicKey(): Promise<Uint8Array>;
  signDigest(digest: Uint8Array): Promise<Uint8Array>;
}

/**
 * A WebCrypto provider for @peculiar/x509 whose private key is a handle, not key material:
 * `subtle.sign` hashes the to-be-signed bytes here and hands the digest to the KeyStore, so the
 * private key never has to exist in this process. Every other operation is node's own WebCrypto.
 */
export async function digestSignerCrypto(
  signer: DigestSigner,
): Promise<{ crypto: Crypto; keys: CryptoKeyPair }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const publicKey = await webcrypto.subtle.importKey('spki', await signer.publicKey(), algorithm, true, [
    'verify',
  ]);
  const privateKey = {
    type: 'private',
    extractable: false,
    algorithm,
    usages: ['sign'],
  } as unknown as CryptoKey;
  const subtle = webcrypto.subtle;
  const proxy = Object.create(subtle) as SubtleCrypto;
  proxy.sign = async (
    params: Parameters<SubtleCrypto['sign']>[0],
    key: CryptoKey,
    data: webcrypto.BufferSource,
  ) => {
    if (key !== privateKey) return subtle.sign(params, key, data);
    const hash = typeof params === 'object' && 'hash' in params ? params.hash : undefined;
    const hashName = typeof hash === 'string' ? hash : (hash as { name?: string } | undefined)?.name;
    if (hashName !== 'SHA-256')
      throw new Error(`the identity key signs SHA-256 digests only, not ${hashName}`);
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data as ArrayBuffer);
    const signature = await signer.signDigest(createHash('sha256').update(bytes).digest());
    return signature.slice().buffer as ArrayBuffer;
  };
  for (const method of ['exportKey', 'importKey', 'digest', 'verify', 'generateKey'] as const) {
    (proxy as unknown as Record<string, unknown>)[method] = (
      subtle[method] as (...args: unknown[]) => unknown
    ).bind(subtle);
  }
  const crypto = {
    subtle: proxy,
    getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
    randomUUID: webcrypto.randomUUID.bind(webcrypto),
  } as unknown as Crypto;
  return { crypto, keys: { publicKey, privateKey } as CryptoKeyPair };
}
