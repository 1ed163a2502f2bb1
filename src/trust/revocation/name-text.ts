import { oidString } from '../../pki/index.js';
import { DerScanner } from './der-scanner.js';

/** Attribute types by OID, with the short names operators know from openssl. */
const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'E',
  '0.9.2342.19200300.100.1.25': 'DC',
};

/**
 * A Name's DER as operators read it ("CN=Sensor CA, O=Acme", in DER order, '+' inside an RDN).
 * Only for messages and listings: names are compared by their DER, never by this text.
 */
export function nameText(nameDer: Uint8Array): string {
  try {
    const scanner = new DerScanner(nameDer, 'Name');
    const name = scanner.read(0, nameDer.length, 'Name', 0x30);
    const rdns: string[] = [];
    for (let rdnAt = name.start, nameEnd = name.end; rdnAt < nameEnd; ) {
      const rdnEnd = scanner.read(rdnAt, nameEnd, 'RDN', 0x31).end;
      const attributes: string[] = [];
      for (let at = scanner.start; at < rdnEnd; ) {
        const attributeEnd = scanner.read(at, rdnEnd, 'attribute', 0x30).end;
        const oid = oidString(scanner.read(scanner.start, attributeEnd, 'attribute type', 0x06).value());
        scanner.read(scanner.end, attributeEnd, 'attribute value');
        attributes.push(`${ATTRIBUTE_NAMES[oid] ?? oid}=${stringValue(scanner.tag, scanner.value())}`);
        at = attributeEnd;
      }
      rdns.push(attributes.join('+'));
      rdnAt = rdnEnd;
    }
    return rdns.join(', ');
  } catch {
    return `(unreadable name, ${nameDer.length} octets)`;
  }
}

function stringValue(tag: number, value: Uint8Array): string {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  // BMPString is UTF-16 big-endian; node reads little-endian, so swap a copy.
  if (tag === 0x1e) return Buffer.from(bytes).swap16().toString('utf16le');
  if (tag === 0x14) return bytes.toString('latin1');
  if (tag === 0x0c || tag === 0x13 || tag === 0x16) return bytes.toString('utf8');
  return `#${bytes.toString('hex')}`;
}
