import { DER_TAG, type DerTlv, oidString, strictChildren } from '../../pki/index.js';
import {
  bitString,
  expectTag,
  explicitTrue,
  hex,
  malformed,
  sequenceIn,
  single,
  smallInteger,
} from './der-values.js';
import { readDistinguishedName } from './distinguished-name.js';
import { EXTENSION, EXTENSION_NAMES } from './oids.js';
import { ValidationFailure } from './validation-failure.js';

export interface CertificateExtension {
  oid: string;
  critical: boolean;
  /** extnValue's contents: the DER of the extension's own value. */
  value: Uint8Array;
}

export interface BasicConstraints {
  ca: boolean;
  pathLen?: number;
}

/** RFC 5280 §4.2.1.3 KeyUsage bits, in bit order. */
export const KEY_USAGE_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageName = (typeof KEY_USAGE_NAMES)[number];

export interface SubjectAltName {
  type: 'dns' | 'uri' | 'email' | 'ip' | 'other';
  value: string;
}

/** The extensions of one certificate, with the ones path validation understands already read. */
export interface ReadExtensions {
  list: readonly CertificateExtension[];
  basicConstraints: BasicConstraints | undefined;
  keyUsage: ReadonlySet<KeyUsageName> | undefined;
  extendedKeyUsage: readonly string[] | undefined;
  subjectKeyId: string | undefined;
  authorityKeyId: string | undefined;
  subjectAltNames: readonly SubjectAltName[];
  crlDistributionPoints: readonly string[];
}

/** `[3] EXPLICIT Extensions` (or undefined for none): each read strictly, duplicates refused. */
export function readExtensions(wrapper: DerTlv | undefined): ReadExtensions {
  const list: CertificateExtension[] = [];
  if (wrapper !== undefined) {
    const [extensions, extra] = strictChildren(wrapper.value);
    if (extra !== undefined) throw malformed('extensions wrapper has trailing elements');
    const items = strictChildren(expectTag(extensions, DER_TAG.sequence, 'extensions').value);
    if (items.length === 0) throw malformed('extensions is present but empty');
    const seen = new Set<string>();
    for (const item of items) {
      const extension = readExtension(item);
      if (seen.has(extension.oid)) {
        throw ValidationFailure.of(
          'duplicate-extension',
          `extension ${extensionName(extension.oid)} appears twice`,
        );
      }
      seen.add(extension.oid);
      list.push(extension);
    }
  }
  const value = (oid: string) => list.find((extension) => extension.oid === oid)?.value;
  const read = <T>(oid: string, reader: (der: Uint8Array, where: string) => T): T | undefined => {
    const der = value(oid);
    return der === undefined ? undefined : reader(der, `extension ${extensionName(oid)}`);
  };
  return {
    list,
    basicConstraints: read(EXTENSION.basicConstraints, readBasicConstraints),
    keyUsage: read(EXTENSION.keyUsage, readKeyUsage),
    extendedKeyUsage: read(EXTENSION.extendedKeyUsage, readExtendedKeyUsage),
    subjectKeyId: read(EXTENSION.subjectKeyIdentifier, (der, where) =>
      hex(single(der, DER_TAG.octetString, where).value),
    ),
    authorityKeyId: read(EXTENSION.authorityKeyIdentifier, readAuthorityKeyId),
    subjectAltNames: read(EXTENSION.subjectAltName, readSubjectAltNames) ?? [],
    crlDistributionPoints: read(EXTENSION.crlDistributionPoints, readCrlDistributionPoints) ?? [],
  };
}

/** "2.5.29.19 (basicConstraints)", or the bare OID. */
export function extensionName(oid: string): string {
  const name = EXTENSION_NAMES.get(oid);
  return name === undefined ? oid : `${oid} (${name})`;
}

/** Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
function readExtension(item: DerTlv): CertificateExtension {
  const fields = strictChildren(expectTag(item, DER_TAG.sequence, 'extension').value);
  const oid = oidString(expectTag(fields[0], DER_TAG.oid, 'extension OID').value);
  const where = `extension ${extensionName(oid)}`;
  let critical = false;
  let next = 1;
  if (fields[1]?.tag === DER_TAG.boolean) {
    critical = explicitTrue(fields[1], `${where} critical flag`);
    next = 2;
  }
  const value = expectTag(fields[next], DER_TAG.octetString, `${where} value`).value;
  if (fields.length !== next + 1) throw malformed(`${where} has trailing elements`);
  return { oid, critical, value };
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }. */
function readBasicConstraints(der: Uint8Array, where: string): BasicConstraints {
  const fields = sequenceIn(der, where);
  let next = 0;
  let ca = false;
  if (fields[0]?.tag === DER_TAG.boolean) {
    ca = explicitTrue(fields[0], `${where} cA`);
    next = 1;
  }
  const pathField = fields[next];
  if (pathField === undefined) return { ca };
  if (fields.length !== next + 1) throw malformed(`${where} has trailing elements`);
  return { ca, pathLen: smallInteger(pathField, `${where} pathLenConstraint`) };
}

function readKeyUsage(der: Uint8Array, where: string): ReadonlySet<KeyUsageName> {
  const { bytes } = bitString(single(der, DER_TAG.bitString, where), where);
  const usages = new Set<KeyUsageName>();
  KEY_USAGE_NAMES.forEach((name, bit) => {
    if (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) usages.add(name);
  });
  return usages;
}

function readExtendedKeyUsage(der: Uint8Array, where: string): readonly string[] {
  const purposes = sequenceIn(der, where).map((purpose) =>
    oidString(expectTag(purpose, DER_TAG.oid, `${where} purpose`).value),
  );
  if (purposes.length === 0) throw malformed(`${where} is empty`);
  return purposes;
}

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, … }. */
function readAuthorityKeyId(der: Uint8Array, where: string): string | undefined {
  const fields = sequenceIn(der, where);
  const keyId = fields.find((field) => field.tag === 0x80);
  for (const field of fields) {
    if (field.tag !== 0x80 && field.tag !== 0xa1 && field.tag !== 0x82)
      throw malformed(`${where} has an unknown field`);
  }
  return keyId === undefined ? undefined : hex(keyId.value);
}

function readSubjectAltNames(der: Uint8Array, where: string): readonly SubjectAltName[] {
  const names = sequenceIn(der, where).map((name) => generalName(name, where));
  if (names.length === 0) throw malformed(`${where} is empty`);
  return names;
}

/** CRLDistributionPoints: the URIs of every distributionPoint's fullName. */
function readCrlDistributionPoints(der: Uint8Array, where: string): readonly string[] {
  const uris: string[] = [];
  for (const point of sequenceIn(der, where)) {
    expectTag(point, DER_TAG.sequence, `${where} DistributionPoint`);
    const name = strictChildren(point.value).find((field) => field.tag === 0xa0);
    if (name === undefined) continue;
    const [fullName] = strictChildren(name.value);
    if (fullName?.tag !== 0xa0) continue; // nameRelativeToCRLIssuer: no URI to fetch
    for (const general of strictChildren(fullName.value)) {
      const parsed = generalName(general, where);
      if (parsed.type === 'uri') uris.push(parsed.value);
    }
  }
  return uris;
}

/** GeneralName: the text forms the identity and the CRL fetcher use. */
function generalName(name: DerTlv, where: string): SubjectAltName {
  switch (name.tag) {
    case 0x81:
      return { type: 'email', value: ascii(name.value, where) };
    case 0x82:
      return { type: 'dns', value: ascii(name.value, where) };
    case 0x86:
      return { type: 'uri', value: ascii(name.value, where) };
    case 0x87:
      return { type: 'ip', value: ipText(name.value, where) };
    case 0xa4: {
      const [directory] = strictChildren(name.value);
      return {
        type: 'other',
        value: `dirName:${readDistinguishedName(expectTag(directory, DER_TAG.sequence, where), where).readable}`,
      };
    }
    case 0x88:
      return { type: 'other', value: `registeredID:${oidString(name.value)}` };
    case 0xa0: {
      const [type] = strictChildren(name.value);
      return {
        type: 'other',
        value: `otherName:${oidString(expectTag(type, DER_TAG.oid, `${where} otherName`).value)}`,
      };
    }
    default:
      if (name.tag === 0xa3 || name.tag === 0xa5)
        return { type: 'other', value: `[${name.tag & 0x1f}]:${hex(name.value)}` };
      throw malformed(`${where} has a GeneralName with tag 0x${name.tag.toString(16)}`);
  }
}

function ascii(value: Uint8Array, where: string): string {
  let text = '';
  for (const byte of value) {
    if (byte > 0x7e || byte < 0x20) throw malformed(`${where} has a non-printable IA5String`);
    text += String.fromCharCode(byte);
  }
  return text;
}

function ipText(value: Uint8Array, where: string): string {
  if (value.length === 4) return Array.from(value).join('.');
  if (value.length !== 16) throw malformed(`${where} has an iPAddress of ${value.length} octets`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((value[i] ?? 0) << 8) | (value[i + 1] ?? 0));
  // RFC 5952: the longest run (of two or more) of zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; ) {
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) [bestStart, bestLength] = [start, end - start];
    start = end === start ? start + 1 : end;
  }
  const text = groups.map((group) => group.toString(16));
  if (bestStart < 0) return text.join(':');
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLength).join(':')}`;
}
