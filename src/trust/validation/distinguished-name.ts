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
  for (const rdn of strictChildren(name.value)) {
    expectTag(rdn, DER_TAG.set, `${where} RDN`);
    const members = strictChildren(rdn.value);
    if (members.length === 0) throw malformed(`${where} has an empty RDN`);
    const parts: string[] = [];
    for (const member of members) {
      expectTag(member, DER_TAG.sequence, `${where} attribute`);
      const [type, value, extra] = strictChildren(member.value);
      const oid = oidString(expectTag(type, DER_TAG.oid, `${where} attribute type`).value);
      if (value === undefined || extra !== undefined)
        throw malformed(`${where} attribute ${oid} is malformed`);
      const text = stringText(value);
      attributes.push({ oid, text });
      parts.push(
        `${SHORT_NAMES[oid] ?? oid}=${text === undefined ? `#${hex(value.tlv)}` : escapeValue(text)}`,
      );
    }
    rdnTexts.push(parts.join('+'));
  }
  return { attributes, readable: rdnTexts.join(', ') };
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

/** RFC 4514 escaping, as @peculiar/x509 does it. */
function escapeValue(text: string): string {
  return text
    .replace(/([,+"\\<>;])/g, '\\$1')
    .replace(/^([ #])/, '\\$1')
    .replace(/( )$/, '\\$1')
    .replace(/[\r\n\t]/g, (char) => `\\${char.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}
