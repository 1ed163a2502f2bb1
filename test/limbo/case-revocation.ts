import { Store } from '../../src/store/index.js';
import { CrlStore, revocationVerdict } from '../../src/trust/revocation/index.js';
import type { RevocationCheck } from '../../src/trust/validation/index.js';

/** A case's CRLs as the gateway would hold them, the check the validator calls, and what was refused on import. */
export interface CaseRevocation {
  check: RevocationCheck;
  /** CRLs the CRL cache refused (as `gatewayctl trust crl import` would have), with its message. */
  refusedCrls: string[];
  close(): void;
}

/**
 * The CRLs of a case imported into the gateway's CRL cache (CrlStore, on an in-memory state
 * database), with the trusted certificates as the candidate issuers, at the validation time; then
 * judged per certificate as SensorTrust does (stored CRL of the issuer, serial listed or not,
 * `revocationVerdict`), under 'hard-fail': a case that gives CRLs means revocation must be checked,
 * as OpenSSL's X509_V_FLAG_CRL_CHECK in limbo's harness. OCSP and CRL fetching are not involved.
 */
export function caseRevocation(
  crlPems: readonly string[],
  issuers: readonly Uint8Array[],
  at: Date,
): CaseRevocation {
  const store = Store.open(':memory:');
  const crls = new CrlStore(store);
  const refusedCrls: string[] = [];
  crlPems.forEach((pem, position) => {
    try {
      crls.import(Buffer.from(pem), issuers, `limbo CRL #${position + 1}`, at);
    } catch (error) {
      refusedCrls.push(`CRL #${position + 1}: ${(error as Error).message}`);
    }
  });
  const check: RevocationCheck = (certificate, issuer, when) => {
    const verdict = revocationVerdict({
      crl: crls.crlInfo(issuer),
      revoked: crls.isRevoked(issuer, certificate.serial),
      policy: { kind: 'hard-fail', graceMs: 0 },
      at: when,
      namesDistributionPoint: certificate.crlDistributionPoints.length > 0,
    });
    return verdict.status === 'revoked' || verdict.status === 'unknown-refused' ? verdict.refusal : undefined;
  };
  return { check, refusedCrls, close: () => store.close() };
}
