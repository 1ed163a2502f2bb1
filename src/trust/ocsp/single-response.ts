import { DER_TAG, type DerTlv, strictChildren } from '../../pki/index.js';
import { CertId } from './cert-id.js';
import { expectTag, explicitInner, generalizedTime, malformed, smallEnumerated } from './ocsp-der.js';
import { readOcspExtensions } from './ocsp-extensions.js';

/** What a responder says about one certificate. */
export interface SingleResponse {
  certId: CertId;
  status: 'good' | 'revoked' | 'unknown';
  /** revocationTime, for 'revoked'. */
  revokedAt?: Date;
  /** CRLReason code (RFC 5280 §5.3.1), when the responder gives one. */
  reason?: number;
  thisUpdate: Date;
  /** Absent: the responder promises nothing about when newer information comes. */
  nextUpdate: Date | undefined;
}

const NO_CRITICAL_EXTENSIONS: ReadonlySet<string> = new Set();

/**
 * SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate GeneralizedTime,
 * nextUpdate [0] EXPLICIT GeneralizedTime OPTIONAL, singleExtensions [1] EXPLICIT Extensions OPTIONAL }.
 */
export function readSingleResponse(element: DerTlv, where: string): SingleResponse {
  const fields = strictChildren(expectTag(element, DER_TAG.sequence, where).value);
  const [certIdField, statusField, thisUpdateField, ...optional] = fields;
  const certId = CertId.read(certIdField, `${where} certID`);
  const status = readCertStatus(statusField, `${where} certStatus`);
  const thisUpdate = generalizedTime(thisUpdateField, `${where} thisUpdate`);
  let nextUpdate: Date | undefined;
  let lastTag = 0;
  for (const field of optional) {
    if (field.tag !== 0xa0 && field.tag !== 0xa1) {
      throw malformed(`${where} has an unexpected element 0x${field.tag.toString(16)}`);
    }
    if (field.tag <= lastTag) throw malformed(`${where} has its optional elements out of order`);
    lastTag = field.tag;
    if (field.tag === 0xa0) {
      nextUpdate = generalizedTime(
        explicitInner(field, DER_TAG.generalizedTime, `${where} nextUpdate`),
        `${where} nextUpdate`,
      );
    } else readOcspExtensions(field, `${where} singleExtensions`, NO_CRITICAL_EXTENSIONS);
  }
  if (nextUpdate !== undefined && nextUpdate < thisUpdate) {
    throw malformed(
      `${where} nextUpdate ${nextUpdate.toISOString()} is before thisUpdate ${thisUpdate.toISOString()}`,
    );
  }
  return { certId, ...status, thisUpdate, nextUpdate };
}

/**
 * CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] IMPLICIT NULL }
 * RevokedInfo ::= SEQUENCE { revocationTime GeneralizedTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }.
 */
function readCertStatus(
  element: DerTlv | undefined,
  where: string,
): Pick<SingleResponse, 'status' | 'revokedAt' | 'reason'> {
  if (element === undefined) throw malformed(`${where} is missing`);
  switch (element.tag) {
    case 0x80:
    case 0x82:
      if (element.value.length !== 0)
        throw malformed(`${where} ${element.tag === 0x80 ? 'good' : 'unknown'} is not NULL`);
      return { status: element.tag === 0x80 ? 'good' : 'unknown' };
    case 0xa1: {
      const [time, reasonField, extra] = strictChildren(element.value);
      if (extra !== undefined) throw malformed(`${where} revoked has trailing elements`);
      const revokedAt = generalizedTime(time, `${where} revocationTime`);
      if (reasonField === undefined) return { status: 'revoked', revokedAt };
      const reason = smallEnumerated(
        explicitInner(
          expectTag(reasonField, 0xa0, `${where} revocationReason`),
          0x0a,
          `${where} revocationReason`,
        ),
        `${where} revocationReason`,
      );
      // CRLReason: 0..10, 7 is unassigned.
      if (reason > 10 || reason === 7)
        throw malformed(`${where} revocationReason ${reason} is not a CRLReason`);
      return { status: 'revoked', revokedAt, reason };
    }
    default:
      throw malformed(`${where} has tag 0x${element.tag.toString(16)}, not good, revoked or unknown`);
  }
}
