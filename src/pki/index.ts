export { type BuiltChain, buildChain } from './chain-builder.js';
export { type BuiltCsr, buildCsr, type CsrExtras, type CsrProfile } from './csr-builder.js';
export {
  type DerTlv,
  derBitString,
  derContent,
  derElements,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derTlv,
  NotStrictDerError,
  oidString,
  sameBytes,
  strictChildren,
  strictSingle,
  strictTlv,
  TAG as DER_TAG,
} from './der.js';
export { type DigestSigner, digestSignerCrypto } from './digest-signer-crypto.js';
export { pemBlocks } from './pem.js';
export { readableName } from './readable-name.js';
export {
  Attribute as X509Attribute,
  Pkcs10CertificateRequest,
  X509Certificate,
  X509Certificates,
} from './x509.js';
