// @peculiar/x509 relies on decorators metadata: load the polyfill before anything touches it.
import 'reflect-metadata';

export { type BuiltCsr, buildCsr, type CsrProfile } from './csr-builder.js';
export { type DigestSigner, digestSignerCrypto } from './digest-signer-crypto.js';
