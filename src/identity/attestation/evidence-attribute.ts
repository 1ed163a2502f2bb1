import type { TpmEvidence } from '../../keys/index.js';
import {
  DER_TAG,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTlv,
  oidString,
  strictChildren,
  strictSingle,
} from '../../pki/index.js';

/**
 * The evidence a CSR carries, in the shape of the IETF LAMPS CSR-attestation work
 * (draft-ietf-lamps-csr-attestation): a PKCS#10 attribute id-aa-evidence whose value is
 * EvidenceBundles ::= SEQUENCE OF EvidenceBundle, EvidenceBundle ::= SEQUENCE { evidences SEQUENCE OF
 * EvidenceStatement, certs SEQUENCE OF Certificate OPTIONAL }, EvidenceStatement ::= SEQUENCE { type
 * OID, stmt ANY, hint UTF8String OPTIONAL }.
 *
 * Why a CSR attribute rather than an EST side channel: it sits inside CertificationRequestInfo, so
 * the identity key's CSR signature binds the evidence to this very request (it cannot be moved to
 * another CSR), and it travels through /simpleenroll of any EST server unchanged (a server that does
 * not know it ignores a non-critical attribute). The nonce, which must come before the evidence, is
 * the one thing that needs an extra round trip (/attest-challenge, see attestation-challenge.ts).
 *
 * The statement type is ours (TCG has not registered one for a Certify+Quote pair):
 * stmt ::= SEQUENCE { challengeId OCTET STRING, akPublic OCTET STRING (TPM2B_PUBLIC),
 *   keyPublic OCTET STRING (TPM2B_PUBLIC), certifyInfo OCTET STRING (TPMS_ATTEST), certifySignature
 *   OCTET STRING (TPMT_SIGNATURE), quoteInfo OCTET STRING (TPMS_ATTEST), quoteSignature OCTET STRING }.
 * certs holds the EK certificate.
 */

/** id-aa-evidence: id-aa 59 (1.2.840.113549.1.9.16.2.59), as the draft's IANA request allocates it. */
export const OID_EVIDENCE_ATTRIBUTE = '1.2.840.113549.1.9.16.2.59';
/** Our TPM 2.0 Certify+Quote statement, under the project's private (example) enterprise arc. */
export const OID_TPM2_CERTIFY_QUOTE = '1.3.6.1.4.1.12345.2.1';

export interface TpmEvidenceStatement extends TpmEvidence {
  /** The verifier's challenge this evidence answers (its nonce is in certifyInfo and quoteInfo). */
  challengeId: Uint8Array;
  akPublic: Uint8Array;
  /** DER of the EK certificate. */
  ekCertificate: Uint8Array;
}

const FIELDS = [
  'challengeId',
  'akPublic',
  'keyPublic',
  'certifyInfo',
  'certifySignature',
  'quoteInfo',
  'quoteSignature',
] as const;

/** The attribute's single value (EvidenceBundles, DER). */
export function encodeEvidenceBundles(statement: TpmEvidenceStatement): Uint8Array {
  const stmt = derSequence(...FIELDS.map((field) => derOctetString(statement[field])));
  const evidence = derSequence(
    derOid(OID_TPM2_CERTIFY_QUOTE),
    stmt,
    derTlv(0x0c, new TextEncoder().encode('TPM 2.0 Certify + Quote')),
  );
  return derSequence(derSequence(derSequence(evidence), derSequence(statement.ekCertificate)));
}

/** The whole Attribute (SEQUENCE { type, SET { value } }), e.g. to find it in a CSR. */
export function encodeEvidenceAttribute(statement: TpmEvidenceStatement): Uint8Array {
  return derSequence(derOid(OID_EVIDENCE_ATTRIBUTE), derSet(encodeEvidenceBundles(statement)));
}

/** EvidenceBundles (DER) → our TPM statement, or an Error saying what is malformed or missing. */
export function decodeEvidenceBundles(der: Uint8Array): TpmEvidenceStatement {
  const bundles = strictChildren(strictSingle(der, DER_TAG.sequence).value);
  for (const bundle of bundles) {
    const [evidences, certs] = strictChildren(bundle.value);
    if (!evidences) continue;
    for (const statement of strictChildren(evidences.value)) {
      const [type, stmt] = strictChildren(statement.value);
      if (!type || !stmt || type.tag !== DER_TAG.oid || oidString(type.value) !== OID_TPM2_CERTIFY_QUOTE)
        continue;
      const parts = strictChildren(stmt.value);
      if (parts.length !== FIELDS.length || parts.some((part) => part.tag !== DER_TAG.octetString)) {
        throw new Error('the TPM evidence statement does not have its seven OCTET STRINGs');
      }
      const ekCertificate = certs ? strictChildren(certs.value)[0]?.tlv : undefined;
      if (!ekCertificate) throw new Error('the evidence bundle carries no EK certificate');
      const out = { ekCertificate } as TpmEvidenceStatement;
      FIELDS.forEach((field, index) => {
        out[field] = new Uint8Array((parts[index] as { value: Uint8Array }).value);
      });
      out.ekCertificate = new Uint8Array(ekCertificate);
      return out;
    }
  }
  throw new Error('the evidence attribute holds no TPM 2.0 Certify + Quote statement');
}
