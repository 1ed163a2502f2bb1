export { type AttestationPolicy, AttestationVerifier } from './attestation-verifier.js';
/** EST (RFC 7030) server and its test CA, for integration tests, benchmarks and the demo. */
export { type CsrRejectedCode, CsrRejectedError } from './csr-rejected-error.js';
export { type DeviceAttestationPolicy, DeviceAttestationVerifier } from './device-attestation-verifier.js';
export {
  EstCa,
  type EstCaOptions,
  type EstIssuer,
  type IssuedCertificate,
  type IssueOptions,
  type TlsServerCredentials,
} from './est-ca.js';
export { EstServer } from './est-server.js';
export type { EstAuditEntry, EstFaults, EstServerOptions } from './est-server-options.js';
export { independentEstServer } from './interop-behaviours.js';
export type { IssueFault } from './issue-fault.js';
export { type ApprovalPerKey, KeyApprovals, spkiSha256 } from './key-approvals.js';
export { VerifiedCsr } from './verified-csr.js';
