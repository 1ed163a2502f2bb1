/** The EST (RFC 7030) client the identity lifecycle enrols and renews with. */
export { csrAttributesOrNone } from './advisory-csr-attributes.js';
export { type CsrAttributesVerdict, judgeCsrAttributes } from './csr-attributes-policy.js';
export { type CsrAttribute, csrAttributesFromBody } from './est-body.js';
export { type EnrollOutcome, EstClient, type EstClientOptions, retryAfterMs } from './est-client.js';
export { abandonedError, EstError, type EstErrorCode, isAbandoned } from './est-error.js';
export {
  checkIssuedCertificate,
  type IssuedCertificateCheck,
  type IssuedNamesRule,
} from './issued-certificate-check.js';
export {
  challengePasswordOf,
  type ProofOfPossessionMode,
  proofOfPossessionHint,
  wantsChannelBinding,
} from './proof-of-possession.js';
