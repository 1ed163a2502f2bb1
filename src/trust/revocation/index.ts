/** Offline revocation: CRLs parsed strictly, cached in the state database, fetched, and judged by policy. */
export { Crl, type CrlEntry, type CrlEntryVisitor } from './crl.js';
export { type CrlDownloadLimits, downloadCrl } from './crl-download.js';
export { CrlFetchError } from './crl-fetch-error.js';
export {
  type CrlFetchCa,
  CrlFetcher,
  type CrlFetcherEvents,
  type CrlFetcherOptions,
  type CrlFetchFailure,
  type CrlUpdate,
} from './crl-fetcher.js';
export { type CrlIssuerCandidates, type CrlIssuerOrigin, crlIssuerCandidates } from './crl-issuers.js';
export {
  type CrlImportOptions,
  type CrlImportResult,
  type CrlInfo,
  CrlStore,
  type CrlStoreOptions,
  type RevokedSerial,
} from './crl-store.js';
export { issuerCertificate, maySignCrls } from './issuer-certificate.js';
export { retryDelayMs } from './retry-backoff.js';
export { type CaRevocationStatus, type RevocationGapDelta, RevocationGaps } from './revocation-gaps.js';
export {
  type CrlPolicy,
  type CrlPolicyKind,
  crlPolicyFromConfig,
  type RevocationQuestion,
  type RevocationVerdict,
  revocationVerdict,
} from './revocation-policy.js';
export { type SeenIntermediate, SeenIntermediates } from './seen-intermediates.js';
export { signerKeyOf } from './signer-key.js';
