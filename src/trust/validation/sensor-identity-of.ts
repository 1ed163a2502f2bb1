import { strictTlv } from '../../pki/index.js';
import type { SensorIdentity } from '../sensor-identity.js';
import type { CertificateFacts } from './certificate-facts.js';
import { stringText } from './der-values.js';

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

/**
 * The device-type extension's text: a UTF8String/PrintableString/IA5String (what the gateway's own
 * CSRs carry), an OCTET STRING of text, or — from CAs that put the bytes in extnValue directly — the
 * raw value when it is printable UTF-8. Anything else reads as undefined.
 */
export function deviceTypeText(value: Uint8Array): string | undefined {
  try {
    const element = strictTlv(value);
    if (element.tlv.length === value.length) {
      const text = element.tag === 0x04 ? printable(element.value) : stringText(element);
      if (text !== undefined) return text;
    }
  } catch {
    // not DER: try the raw bytes below
  }
  return printable(value);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function printable(bytes: Uint8Array): string | undefined {
  try {
    const text = UTF8.decode(bytes);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    return text.length > 0 && !/[\u0000-\u001f\u007f]/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}
