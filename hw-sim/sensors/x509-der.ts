/**
 * The few X.509 structures the sensor CA writes — Names, extensions, TBSCertificate, TBSCertList —
 * with the gateway's DER writer, signed ECDSA-SHA256 with node:crypto. Nothing here parses: what
 * these functions write is checked by the gateway's strict readers and by openssl in the tests.
 */
import { createHash, type KeyObject, randomBytes, sign } from 'node:crypto';
import {
  DER_TAG,
  derBitString,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derTlv,
  strictChildren,
  strictSingle,
} from '../../src/pki/index.js';

/** AlgorithmIdentifier ecdsa-with-SHA256 (no parameters, RFC 5758 §3.2). */
const ECDSA_WITH_SHA256 = derSequence(derOid('1.2.840.10045.4.3.2'));
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const UTF8_STRING = 0x0c;
const PRINTABLE_STRING = 0x13;

export interface NameParts {
  commonName: string;
  /** Subject serialNumber attribute (2.5.4.5): the device serial. PrintableString characters only. */
  serialNumber?: string;
  organization?: string;
}

/** A Name with one attribute per RDN, in the order O, CN, serialNumber (as `openssl -subj` writes them). */
export function nameDer(parts: NameParts): Uint8Array {
  const rdn = (oid: string, tag: number, text: string) =>
    derSet(derSequence(derOid(oid), derTlv(tag, Buffer.from(text, 'utf8'))));
  const rdns: Uint8Array[] = [];
  if (parts.organization !== undefined) rdns.push(rdn('2.5.4.10', UTF8_STRING, parts.organization));
  rdns.push(rdn('2.5.4.3', UTF8_STRING, parts.commonName));
  if (parts.serialNumber !== undefined) rdns.push(rdn('2.5.4.5', PRINTABLE_STRING, parts.serialNumber));
  return derSequence(...rdns);
}

/** One Extension: extnID, critical when asked, extnValue wrapping `value`. */
export function extensionDer(oid: string, value: Uint8Array, critical = false): Uint8Array {
  return critical
    ? derSequence(derOid(oid), derTlv(DER_TAG.boolean, Uint8Array.of(0xff)), derOctetString(value))
    : derSequence(derOid(oid), derOctetString(value));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits of a SubjectPublicKeyInfo. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const [, bits] = strictChildren(strictSingle(spki, DER_TAG.sequence).value);
  if (!bits || bits.tag !== DER_TAG.bitString) throw new Error('not a SubjectPublicKeyInfo');
  return createHash('sha1').update(bits.value.subarray(1)).digest();
}

/** Extensions of a root CA: critical CA:TRUE, critical keyCertSign + cRLSign, its key identifier. */
export function caExtensions(subjectKeyId: Uint8Array): Uint8Array[] {
  return [
    extensionDer('2.5.29.19', derSequence(derTlv(DER_TAG.boolean, Uint8Array.of(0xff))), true),
    // keyCertSign (bit 5) and cRLSign (bit 6): one octet 0b0000_0110, its last bit unused.
    extensionDer('2.5.29.15', derTlv(DER_TAG.bitString, Uint8Array.of(1, 0x06)), true),
    extensionDer('2.5.29.14', derOctetString(subjectKeyId)),
  ];
}

export interface SensorExtensionOptions {
  subjectKeyId: Uint8Array;
  authorityKeyId: Uint8Array;
  deviceTypeOid: string;
  deviceType: string | undefined;
  /** dNSName entries of subjectAltName. */
  dnsNames: readonly string[];
  crlDistributionPoint: string | undefined;
}

/**
 * Extensions of a sensor certificate: CA:FALSE, critical digitalSignature, EKU clientAuth (what the
 * DTLS endpoint requires), key identifiers, subjectAltName, the device-type extension (UTF8String)
 * and an optional CRL distribution point (a URI).
 */
export function sensorExtensions(options: SensorExtensionOptions): Uint8Array[] {
  const extensions = [
    extensionDer('2.5.29.19', derSequence()),
    // digitalSignature is bit 0: 0b1000_0000 with seven unused bits.
    extensionDer('2.5.29.15', derTlv(DER_TAG.bitString, Uint8Array.of(7, 0x80)), true),
    extensionDer('2.5.29.37', derSequence(derOid(CLIENT_AUTH))),
    extensionDer('2.5.29.14', derOctetString(options.subjectKeyId)),
    extensionDer('2.5.29.35', derSequence(derTlv(0x80, options.authorityKeyId))),
  ];
  if (options.dnsNames.length > 0) {
    const names = options.dnsNames.map((name) => derTlv(0x82, Buffer.from(name, 'ascii')));
    extensions.push(extensionDer('2.5.29.17', derSequence(...names)));
  }
  if (options.crlDistributionPoint !== undefined) {
    // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
    const uri = derTlv(0x86, Buffer.from(options.crlDistributionPoint, 'ascii'));
    extensions.push(extensionDer('2.5.29.31', derSequence(derSequence(derTlv(0xa0, derTlv(0xa0, uri))))));
  }
  if (options.deviceType !== undefined) {
    extensions.push(
      extensionDer(options.deviceTypeOid, derTlv(UTF8_STRING, Buffer.from(options.deviceType, 'utf8'))),
    );
  }
  return extensions;
}

export interface CertificateFields {
  /** INTEGER value octets (positive, minimal): see `randomSerial`. */
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions: Uint8Array[];
}

/** A v3 Certificate of `fields`, signed by `issuerKey` (an EC private key) with ECDSA-SHA256. */
export function certificateDer(fields: CertificateFields, issuerKey: KeyObject): Uint8Array {
  const tbs = derSequence(
    derTlv(0xa0, derInteger(Uint8Array.of(2))),
    derInteger(fields.serial),
    ECDSA_WITH_SHA256,
    fields.issuer,
    derSequence(derTime(fields.notBefore), derTime(fields.notAfter)),
    fields.subject,
    fields.spki,
    derTlv(0xa3, derSequence(...fields.extensions)),
  );
  return signed(tbs, issuerKey);
}

export interface RevokedEntry {
  /** The certificate's serial as INTEGER value octets. */
  serial: Uint8Array;
  revokedAt: Date;
}

export interface CrlFields {
  issuer: Uint8Array;
  authorityKeyId: Uint8Array;
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: bigint;
  entries: readonly RevokedEntry[];
}

/** A v2 CRL (RFC 5280 §5) with cRLNumber and authorityKeyIdentifier, reason keyCompromise per entry. */
export function crlDer(fields: CrlFields, issuerKey: KeyObject): Uint8Array {
  const keyCompromise = derSequence(extensionDer('2.5.29.21', derTlv(0x0a, Uint8Array.of(1))));
  const revoked = fields.entries.map((entry) =>
    derSequence(derInteger(entry.serial), derTime(entry.revokedAt), keyCompromise),
  );
  const tbs = derSequence(
    derInteger(Uint8Array.of(1)),
    ECDSA_WITH_SHA256,
    fields.issuer,
    derTime(fields.thisUpdate),
    derTime(fields.nextUpdate),
    // An empty revokedCertificates is left out, as RFC 5280 §5.1.2.6 asks.
    ...(revoked.length > 0 ? [derSequence(...revoked)] : []),
    derTlv(
      0xa0,
      derSequence(
        extensionDer('2.5.29.20', derInteger(integerOctets(fields.crlNumber))),
        extensionDer('2.5.29.35', derSequence(derTlv(0x80, fields.authorityKeyId))),
      ),
    ),
  );
  return signed(tbs, issuerKey);
}

/** A random positive 16-octet serial without a leading zero octet (as CAs issue them). */
export function randomSerial(): Uint8Array {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x10;
  return new Uint8Array(serial);
}

/** The INTEGER value octets of a non-negative number, minimal. */
export function integerOctets(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** PEM of DER (64-column base64). */
export function pemOf(label: string, der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function signed(tbs: Uint8Array, key: KeyObject): Uint8Array {
  const signature = sign('sha256', tbs, { key, dsaEncoding: 'der' });
  return derSequence(tbs, ECDSA_WITH_SHA256, derBitString(signature));
}
