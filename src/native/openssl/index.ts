export { EcdsaDigestSigner, ecdsaDerToRaw } from './ecdsa-digest-signer.js';
export { type LibCrypto, lastOpenSslError, libcrypto, openSslRuntime } from './libcrypto.js';
export {
  checkOpenSslVersion,
  MAX_CHECKED_MINOR,
  type OpenSslSupport,
  OpenSslVersionError,
  SUPPORTED_OPENSSL,
} from './supported-versions.js';
