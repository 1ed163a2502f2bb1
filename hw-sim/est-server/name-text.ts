import { NotStrictDerError, oidString, strictChildren, strictSingle, TAG } from '../../src/pki/der.js';
import * as x509 from '../../src/pki/x509.js';

/** The attribute types @peculiar/x509 prints by short name (its NameIdentifier defaults). */
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
};

const UTF8_STRING = 0x0c;
const PRINTABLE_STRING = 0x13;
const IA5_STRING = 0x16;

/**
 * A DER Name as `new x509.Name(der).toString()` prints it ("CN=device-ABC, 2.5.4.5=ABC"): directly
 * for the usual subjects (UTF8String, PrintableString or IA5String values of printable ASCII), and
 * through @peculiar/x509 for anything else, so the text is always the one it would print.
 */
export function nameText(der: Uint8Array): string {
  try {
    return strictChildren(strictSingle(der, TAG.sequence).value)
      .map((rdn) => {
        if (rdn.tag !== TAG.set) throw new NotStrictDerError('RDN is not a SET');
        return strictChildren(rdn.value).map(attributeText).join('+');
      })
      .join(', ');
  } catch (error) {
    if (!(error instanceof NotStrictDerError)) throw error;
    return new x509.Name(der).toString();
  }
}

function attributeText(attribute: { tag: number; value: Uint8Array }): string {
  if (attribute.tag !== TAG.sequence) throw new NotStrictDerError('AttributeTypeAndValue is not a SEQUENCE');
  const [type, value, ...rest] = strictChildren(attribute.value);
  if (!type || !value || rest.length > 0 || type.tag !== TAG.oid) {
    throw new NotStrictDerError('AttributeTypeAndValue is not OID and value');
  }
  if (![UTF8_STRING, PRINTABLE_STRING, IA5_STRING].includes(value.tag) || value.value.length === 0) {
    throw new NotStrictDerError('value read generically');
  }
  let text = '';
  for (const byte of value.value) {
    if (byte < 0x20 || byte > 0x7e) throw new NotStrictDerError('value read generically');
    text += String.fromCharCode(byte);
  }
  const oid = oidString(type.value);
  return `${SHORT_NAMES[oid] ?? oid}=${escapeValue(text)}`;
}

/** @peculiar/x509's escaping (its control-character rule cannot apply to printable ASCII). */
function escapeValue(text: string): string {
  return text
    .replace(/([,+"\\<>;])/g, '\\$1')
    .replace(/^([ #])/, '\\$1')
    .replace(/([ ]$)/, '\\$1');
}
