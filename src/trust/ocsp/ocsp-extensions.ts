import { DER_TAG, type DerTlv, strictChildren } from '../../pki/index.js';
import { expectTag, explicitInner, malformed, oidOf } from './ocsp-der.js';
import { OcspResponseError } from './ocsp-response-error.js';

export interface OcspExtension {
  oid: string;
  critical: boolean;
  /** extnValue's contents. */
  value: Uint8Array;
}

/**
 * `[n] EXPLICIT Extensions` of a response or single response. Duplicates are malformed; a critical
 * extension not in `understood` is refused (RFC 5280 §4.2 semantics, which RFC 6960 §4.4 inherits).
 */
export function readOcspExtensions(
  wrapper: DerTlv,
  where: string,
  understood: ReadonlySet<string>,
): OcspExtension[] {
  const items = strictChildren(explicitInner(wrapper, DER_TAG.sequence, where).value);
  if (items.length === 0) throw malformed(`${where} is present but empty`);
  const extensions: OcspExtension[] = [];
  for (const item of items) {
    const fields = strictChildren(expectTag(item, DER_TAG.sequence, `${where} extension`).value);
    const oid = oidOf(fields[0], `${where} extension OID`);
    let critical = false;
    let next = 1;
    if (fields[1]?.tag === DER_TAG.boolean) {
      // DER: a DEFAULT FALSE is omitted, and TRUE is 0xFF.
      if (fields[1].value.length !== 1 || fields[1].value[0] !== 0xff) {
        throw malformed(`${where} extension ${oid}: critical must be omitted or 0xFF`);
      }
      critical = true;
      next = 2;
    }
    const value = expectTag(fields[next], DER_TAG.octetString, `${where} extension ${oid} value`).value;
    if (fields.length !== next + 1) throw malformed(`${where} extension ${oid} has trailing elements`);
    if (extensions.some((known) => known.oid === oid)) {
      throw malformed(`${where} extension ${oid} appears twice`);
    }
    if (critical && !understood.has(oid)) {
      throw new OcspResponseError('unsupported', `${where} has the unknown critical extension ${oid}`);
    }
    extensions.push({ oid, critical, value });
  }
  return extensions;
}
