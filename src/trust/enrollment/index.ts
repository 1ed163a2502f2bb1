/**
 * Which sensors the gateway admits: CA registration with proof of possession, individual and group
 * enrollments (Azure DPS style), and the local deny list.
 */

export { commonNameOf, isCaCertificate, parseCertificate } from '../parse-certificate.js';
export { looksLikeThumbprint, normalizeThumbprint, sha256Hex } from '../thumbprint.js';
export { CaRegistrations, type PendingCaRegistration, type VerifiedCa } from './ca-registrations.js';
export { readCertificateBlobs, readCertificatesFromFile } from './certificate-file.js';
export { normalizeSerial } from './certificate-serial.js';
export { compileCnPattern } from './cn-pattern.js';
export { type DenyEntry, DenyList } from './deny-list.js';
export { type DenyKind, type DenyTarget, denyTarget } from './deny-target.js';
export {
  type Enrollment,
  type EnrollmentJudgement,
  type EnrollmentKind,
  Enrollments,
} from './enrollments.js';
export { type GroupConstraints, normalizeConstraints } from './group-constraints.js';
export { verificationCommands } from './verification-commands.js';
