/** Offline trust: trust bundles and the clock floor (CRLs, enrollments and policy come next). */
export { ClockFloor } from './clock-floor.js';
export { TrustBundleStore, type TrustedCertificate } from './trust-bundle-store.js';
