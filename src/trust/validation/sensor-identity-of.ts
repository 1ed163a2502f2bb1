import { strictTlv } from '../../pki/index.js';
import type { SensorIdentity } from '../sensor-identity.js';
import type { CertificateFacts } from './certificate-facts.js';

/**
 * The identity of the sensor at the head of a validated path (leaf first, anchor last). A path of one
 * certificate is one trusted by thumbprint alone: no issuer or anchor thumbprint. Enrollment is left
 * undefined for the enrollment check to fill in.
 */
export function sensorIdentityOf(path: readonly CertificateFacts[], deviceTypeOid: string): SensorIdentity {
  const sensor = path[0];
  if (sensor === undefined)
    throw new RangeError('sensorIdentityOf needs a path of at least the sensor certificate');
  const anchor = path.length > 1 ? path[path.length - 1] : undefined;
  const deviceType = sensor.extensionValue(deviceTypeOid);
  return {
    sha256: sensor.sha256,
    commonName: sensor.commonName,
    serialNumber: sensor.serialNumberAttribute,
    certificateSerial: sensor.serialHex,
    subject: sensor.subject,
    subjectAltNames: sensor.subjectAltNames.map((name) => ({ ...name })),
    deviceType: deviceType === undefined ? undefined : deviceTypeText(deviceType),
    issuer: sensor.issuer,
    issuerSha256: path[1]?.sha256,
    anchorSha256: anchor?.sha256,
    notBefore: new Date(sensor.notBefore),
    notAfter: new Date(sensor.notAfter),
    enrollment: undefined,
  };
}

/** What the device-type extension holds: its text, or why it is not a device type. */
export type DeviceTypeReading = { text: string } | { problem: string };

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** X.680 PrintableString: letters, digits, space and '()+,-./:=? */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const TAG_NAMES: Record<number, string> = {
  1: 'BOOLEAN',
  2: 'INTEGER',
  3: 'BIT STRING',
  5: 'NULL',
  6: 'OBJECT IDENTIFIER',
  20: 'TeletexString',
  26: 'VisibleString',
  28: 'UniversalString',
  30: 'BMPString',
  48: 'SEQUENCE',
  49: 'SET',
};

/**
 * The device-type extension's value (extnValue's contents) checked for its ASN.1 type: one DER
 * UTF8String, PrintableString (its character set checked) or IA5String — what the gateway's own CSRs
 * carry — or, for CAs that wrap the text once more, an OCTET STRING of UTF-8 text; non-empty, no
 * control characters. Anything else (another ASN.1 type, raw bytes that are not one DER value,
 * invalid characters) is a problem: the sensor certificate is refused with reason 'bad-device-type'.
 */
export function readDeviceType(value: Uint8Array): DeviceTypeReading {
  let element: ReturnType<typeof strictTlv>;
  try {
    element = strictTlv(value);
  } catch {
    return { problem: 'bytes that are not one DER value' };
  }
  if (element.tlv.length !== value.length) return { problem: 'a DER value followed by other bytes' };
  const bytes = element.value;
  let text: string | undefined;
  switch (element.tag) {
    case 0x0c: // UTF8String
    case 0x04: // OCTET STRING of UTF-8 text
      text = utf8(bytes);
      if (text === undefined) return { problem: `${named(element.tag)} that is not UTF-8` };
      break;
    case 0x13: // PrintableString
      text = Buffer.from(bytes).toString('latin1');
      if (!PRINTABLE.test(text)) return { problem: 'a PrintableString with characters outside its set' };
      break;
    case 0x16: // IA5String
      if (bytes.some((byte) => byte > 0x7f)) return { problem: 'an IA5String with non-ASCII bytes' };
      text = Buffer.from(bytes).toString('latin1');
      break;
    default:
      return { problem: `an ASN.1 ${typeName(element.tag)}` };
  }
  if (text.length === 0) return { problem: `an empty ${typeName(element.tag)}` };
  if (CONTROL.test(text)) return { problem: `${named(element.tag)} with control characters` };
  return { text };
}

/** The device type's text, or undefined when the value is not a valid device type (see readDeviceType). */
export function deviceTypeText(value: Uint8Array): string | undefined {
  const reading = readDeviceType(value);
  return 'text' in reading ? reading.text : undefined;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** "a UTF8String", "an OCTET STRING". */
function named(tag: number): string {
  return `${tag === 0x04 ? 'an' : 'a'} ${typeName(tag)}`;
}

function typeName(tag: number): string {
  if (tag === 0x0c) return 'UTF8String';
  if (tag === 0x04) return 'OCTET STRING';
  if (tag === 0x13) return 'PrintableString';
  if (tag === 0x16) return 'IA5String';
  return TAG_NAMES[tag] ?? `value of tag 0x${tag.toString(16).padStart(2, '0')}`;
}
