import { hash } from 'node:crypto';
import { DER_TAG, type DerTlv, NotStrictDerError, oidString, strictChildren } from '../../pki/index.js';
import { expectTag, hex, malformed, single, stringText } from './der-values.js';

/** One attribute of a distinguished name: its type, and its text when it is a string type. */
export interface NameAttribute {
  oid: string;
  text: string | undefined;
}

/** A Name read from DER: its attributes in encoded order and its readable form. */
export interface DistinguishedName {
  attributes: readonly NameAttribute[];
  /** As @peculiar/x509 prints it, with serialNumber named: "CN=sensor-1, serialNumber=0001". */
  readable: string;
  /**
   * SHA-256 (hex) of the name in RFC 5280 §7.1 comparison form: string values (UTF8String,
   * PrintableString, IA5String, TeletexString, BMPString, UniversalString) prepared as RFC 4518
   * says, simplified — Unicode NFKC, case folded, leading and trailing spaces removed, inner
   * whitespace runs one space — and the string type forgotten; other values by their DER; the
   * attributes of a multi-valued RDN in any order. Two names are the same name when their keys are.
   */
  comparisonKey: string;
  /** Each RDN in §7.1 comparison form, in order (name constraints compare RDN prefixes). */
  rdnKeys: readonly string[];
}

/** Short names @peculiar/x509 uses, plus serialNumber as `readableName` names it. */
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'E',
  '2.5.4.42': 'G',
  '2.5.4.43': 'I',
  '2.5.4.4': 'SN',
  '2.5.4.12': 'T',
  '2.5.4.5': 'serialNumber',
};

/** Name ::= SEQUENCE OF RelativeDistinguishedName (SET SIZE (1..MAX) OF AttributeTypeAndValue). */
export function readDistinguishedName(name: DerTlv, where: string): DistinguishedName {
  expectTag(name, DER_TAG.sequence, where);
  const attributes: NameAttribute[] = [];
  const rdnTexts: string[] = [];
  const rdnKeys: string[][] = [];
  for (const rdn of strictChildren(name.value)) {
    expectTag(rdn, DER_TAG.set, `${where} RDN`);
    const members = strictChildren(rdn.value);
    if (members.length === 0) throw malformed(`${where} has an empty RDN`);
    const parts: string[] = [];
    const memberKeys: string[] = [];
    for (const member of members) {
      expectTag(member, DER_TAG.sequence, `${where} attribute`);
      const [type, value, extra] = strictChildren(member.value);
      const oid = oidString(expectTag(type, DER_TAG.oid, `${where} attribute type`).value);
      if (value === undefined || extra !== undefined)
        throw malformed(`${where} attribute ${oid} is malformed`);
      const text = stringText(value);
      attributes.push({ oid, text });
      memberKeys.push(`${oid}=${text === undefined ? `#${hex(value.tlv)}` : `'${prepared(text)}`}`);
      parts.push(
        `${SHORT_NAMES[oid] ?? oid}=${text === undefined ? `#${hex(value.tlv)}` : escapeValue(text)}`,
      );
    }
    rdnTexts.push(parts.join('+'));
    rdnKeys.push(memberKeys.sort());
  }
  return {
    attributes,
    readable: rdnTexts.join(', '),
    comparisonKey: hash('sha256', JSON.stringify(rdnKeys), 'hex'),
    rdnKeys: rdnKeys.map((keys) => JSON.stringify(keys)),
  };
}

/** RFC 4518 string preparation, simplified (see `comparisonKey`). */
function prepared(text: string): string {
  return text.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ');
}

/**
 * The readable form of a Name given as its complete DER encoding (a CRL's issuer, say): the text
 * `readDistinguishedName` gives certificates. Throws ValidationFailure 'malformed' when `der` is not
 * exactly one strict DER Name.
 */
export function distinguishedNameText(der: Uint8Array, where = 'name'): string {
  try {
    return readDistinguishedName(single(der, DER_TAG.sequence, where), where).readable;
  } catch (error) {
    if (error instanceof NotStrictDerError) throw malformed(`${where}: not strict DER: ${error.message}`);
    throw error;
  }
}

/**
 * The RFC 5280 §7.1 comparison key (`DistinguishedName.comparisonKey`) of a Name given as its
 * complete DER encoding: how a CRL's issuer is matched to a CA certificate's subject
 * (CertificateFacts.subjectNameKey). Throws like `distinguishedNameText`.
 */
export function distinguishedNameKey(der: Uint8Array, where = 'name'): string {
  try {
    return readDistinguishedName(single(der, DER_TAG.sequence, where), where).comparisonKey;
  } catch (error) {
    if (error instanceof NotStrictDerError) throw malformed(`${where}: not strict DER: ${error.message}`);
    throw error;
  }
}

/** RFC 4514 escaping, as @peculiar/x509 does it. */
function escapeValue(text: string): string {
  return text
    .replace(/([,+"\\<>;])/g, '\\$1')
    .replace(/^([ #])/, '\\$1')
    .replace(/( )$/, '\\$1')
    .replace(/[\r\n\t]/g, (char) => `\\${char.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}
