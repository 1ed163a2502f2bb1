/**
 * OCSP (RFC 6960) beside the CRL cache, for certificates whose CA offers it (authorityInfoAccess):
 * requests, strictly parsed and verified responses, and a client that keeps answers until their
 * nextUpdate so handshakes can consult them synchronously and offline.
 */
export { CertId } from './cert-id.js';
export { OcspCache } from './ocsp-cache.js';
export { OcspClient, type OcspClientOptions } from './ocsp-client.js';
export { OcspFetchError } from './ocsp-fetch-error.js';
export { buildOcspRequest, NONCE_BYTES, type OcspRequest, type OcspRequestOptions } from './ocsp-request.js';
export { MAX_OCSP_RESPONSE_BYTES, OcspResponse } from './ocsp-response.js';
export { type OcspCheck, OcspResponseError } from './ocsp-response-error.js';
export type { OcspStatus } from './ocsp-status.js';
export { ocspUrlOf } from './ocsp-url.js';
export { DEFAULT_OCSP_SKEW_MS, type OcspExpectation, verifyOcspResponse } from './ocsp-verification.js';
export type { ResponderId } from './responder-id.js';
export type { SingleResponse } from './single-response.js';
