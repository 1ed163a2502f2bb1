export { EcdsaDigestSigner, ecdsaDerToRaw } from './ecdsa-digest-signer.js';
export { type LibCrypto, lastOpenSslError, libcrypto } from './libcrypto.js';
