import type { AttestationPolicy } from './attestation-verifier.js';
import type { DeviceAttestationPolicy } from './device-attestation-verifier.js';
import type { IssueFault } from './issue-fault.js';
import type { ApprovalPerKey } from './key-approvals.js';

/** How an EstServer is set up (fixed at start). */
export interface EstServerOptions {
  /** CA files (root-ca.*, issuing-ca.*) and audit.log; made on first start, reused afterwards. */
  stateDir: string;
  /**
   * PEM text of the CAs whose client certificates may authenticate /simpleenroll (each string may hold
   * several certificates). Give self-signed roots: node's TLS does not accept an intermediate alone as
   * a trust anchor. Certificates issued by this EST CA are accepted as well.
   */
  factoryCaPem: string[];
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port (see `port`). */
  port?: number;
  /** Lifetime of issued certificates. Default 30 days. */
  lifetimeSeconds?: number;
  /** When set, /simpleenroll and /simplereenroll need it IN ADDITION to the TLS client certificate. */
  basicAuth?: { username: string; password: string };
  /** 'leaf' (default): enroll answers hold only the new certificate — the client builds the chain from
   *  /cacerts; 'chain': the new certificate and its issuing CA. */
  enrollResponse?: 'leaf' | 'chain';
  /** 'chain' (default): /cacerts holds root and issuing CA; 'root': only the root. */
  cacerts?: 'chain' | 'root';
  /**
   * false (default): base64 bodies on one line (RFC 8951 reading: RFC 4648 base64, which strongSwan's
   * pki and other strict clients require); true: 64-column lines with CRLF (RFC 2045, what RFC 7030
   * as first written allows and some servers still send).
   */
  wrapBase64?: boolean;
  /** The device-type extension copied from CSRs and listed in /csrattrs. Default 1.3.6.1.4.1.12345.1.1. */
  deviceTypeOid?: string;
  /**
   * TPM attestation at enrolment (attestation-verifier.ts): when set, /attest-challenge answers and
   * every /simpleenroll and /simplereenroll CSR must carry evidence that satisfies this policy.
   */
  attestation?: AttestationPolicy;
  /**
   * ATECC608A attestation at enrolment (device-attestation-verifier.ts): the manufacturer chain and a
   * device-key signature over a nonce, required in every CSR. Ignored when `attestation` is set.
   */
  deviceAttestation?: DeviceAttestationPolicy;
  /** RFC 7030 §3.2.2 label: when set, only /.well-known/est/<label>/… answers (unlabelled paths → 404). */
  label?: string;
  // Behaviours of an independent, widely deployed EST server (interop-behaviours.ts has them together).
  /** /csrattrs: the base64 followed by one NUL byte, as a C server sending `sizeof` its string does. */
  csrattrsTrailingNul?: boolean;
  /** true (default): base64 answers say Content-Transfer-Encoding: base64; false: no such header. */
  contentTransferEncoding?: boolean;
  /** Content-Type of the PKCS#7 answers. Default application/pkcs7-mime (cacerts), with
   *  `; smime-type=certs-only` (enroll). */
  pkcs7ContentType?: string;
  /** A one-level CA: the root signs device certificates (default: the issuing CA under it). */
  issueFromRoot?: boolean;
  /** Issued certificates without extendedKeyUsage and subjectAltName. */
  bareCertificates?: boolean;
  /**
   * Proof of possession (RFC 7030 §3.5), as libest's PoP mode: 'required' — the CSR's challengePassword
   * must be the channel binding of the connection it is posted on (else 401 "Proof of Possession
   * Mismatch"), and /csrattrs names challengePassword; 'optional' — checked when present; 'off'
   * (default).
   */
  proofOfPossession?: 'required' | 'optional' | 'off';
  /** Highest TLS version the server speaks (e.g. 'TLSv1.2' for a TLS 1.2-only server). Default TLSv1.3. */
  maxTlsVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** Faults to inject; mutable at runtime (`server.faults.pending = { count: 1, retryAfterSeconds: 2 }`). */
export interface EstFaults {
  /** Answer the next `count` cacerts/simpleenroll/simplereenroll calls with `status` (before any
   *  authentication); `retryAfterSeconds` adds a Retry-After header (e.g. with 503). */
  failNext?: { status: number; count: number; body?: string; retryAfterSeconds?: number };
  /** Delay every response by this long (a slow server). */
  stallMs?: number;
  /** Issue from an unrelated self-signed CA (the result does not chain to rootPem). */
  wrongCa?: boolean;
  /** Issue from an expired issuing CA under the same root. */
  expiredIssuingCa?: boolean;
  /** Answer the next `count` simpleenroll/simplereenroll calls that would have succeeded with
   *  202 Accepted + Retry-After (authentication and the CSR are checked first). */
  pending?: { count: number; retryAfterSeconds: number };
  /** Answer /csrattrs with this status and body instead (an unusable answer: enrolment goes on). */
  csrattrsAnswer?: { status: number; body: string };
  /** 202 + Retry-After until the request's public key is approved (server.approvals.approve(spki)
   *  or after `approveAfterAttempts` requests for that key): a CSR for another key is another request. */
  approvePerKey?: ApprovalPerKey;
  /** Issue certificates that break the device profile this way (CA:TRUE, another key, …). */
  issueFault?: IssueFault;
}

/** One answered request, as auditEntries() returns it and <stateDir>/audit.log stores it (NDJSON). */
export interface EstAuditEntry {
  /** ISO 8601, when the answer was sent. */
  time: string;
  method: string;
  /** The request path as sent (query included). */
  path: string;
  status: number;
  remoteAddress?: string;
  /** The TLS client certificate, if the client presented one. */
  client?: { subject: string; serial: string; issuer: string; authorized: boolean };
  /** What was issued (simpleenroll/simplereenroll answered 200). */
  issued?: { serial: string; subject: string; notAfter: string; issuer: string };
  /** SHA-256 (hex) of the CSR's SubjectPublicKeyInfo, for enrolment requests that got this far. */
  keySha256?: string;
  /** Why the request was refused (the text of the error answer) or is pending. */
  reason?: string;
}
