import {
  NotStrictDerError,
  oidString,
  sameBytes,
  strictChildren,
  strictSingle,
  TAG,
} from '../../src/pki/der.js';

/** The parts of a PKCS#10 request the CA issues from, as the request encodes them. */
export interface CsrDer {
  /** CertificationRequestInfo (what the signature covers), complete encoding. */
  info: Uint8Array;
  /** The subject Name, complete encoding (copied into the certificate as is). */
  subject: Uint8Array;
  /** SubjectPublicKeyInfo, complete encoding (copied into the certificate as is). */
  spki: Uint8Array;
  /** Extension encodings from the extensionRequest attribute by OID (the first of each OID). */
  extensions: Map<string, Uint8Array>;
  /** Whether some RDN of the subject has a commonName. */
  hasCommonName: boolean;
  /** ecdsa-with-SHA* or sha*WithRSAEncryption: the hash, as node:crypto names it. */
  signatureHash: 'sha256' | 'sha384' | 'sha512';
  /** The signature octets (the BIT STRING without its unused-bits octet). */
  signature: Uint8Array;
}

const OID_COMMON_NAME = oidBytes(0x55, 0x04, 0x03); // 2.5.4.3
const OID_EXTENSION_REQUEST = oidBytes(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e); // 1.2.840.113549.1.9.14
const VERSION_1 = Uint8Array.of(TAG.integer, 1, 0);
const NULL = Uint8Array.of(0x05, 0);
const BOOLEAN_TRUE = Uint8Array.of(TAG.boolean, 1, 0xff);

/** Signature algorithms verified natively; `params` says whether the AlgorithmIdentifier has NULL. */
const SIGNATURE_ALGORITHMS: { oid: string; hash: CsrDer['signatureHash']; rsa: boolean }[] = [
  { oid: '1.2.840.10045.4.3.2', hash: 'sha256', rsa: false },
  { oid: '1.2.840.10045.4.3.3', hash: 'sha384', rsa: false },
  { oid: '1.2.840.10045.4.3.4', hash: 'sha512', rsa: false },
  { oid: '1.2.840.113549.1.1.11', hash: 'sha256', rsa: true },
  { oid: '1.2.840.113549.1.1.12', hash: 'sha384', rsa: true },
  { oid: '1.2.840.113549.1.1.13', hash: 'sha512', rsa: true },
];

/**
 * A DER CSR split into its parts without an ASN.1 library, or NotStrictDerError when it is outside
 * the strict subset read here (BER, trailing bytes, another signature algorithm, a non-DER
 * extension…): the caller then takes the generic @peculiar/x509 path, so this is only ever a faster
 * way to the same answer.
 */
export function readCsrDer(der: Uint8Array): CsrDer {
  const request = strictSingle(der, TAG.sequence);
  const [info, algorithm, signatureBits, ...extra] = strictChildren(request.value);
  if (!info || !algorithm || !signatureBits || extra.length > 0) throw strict('a CSR has three parts');
  expectTag(info.tag, TAG.sequence);
  const [version, subject, spki, attributes, ...more] = strictChildren(info.value);
  if (!version || !subject || !spki || !attributes || more.length > 0) {
    throw strict('CertificationRequestInfo has four parts');
  }
  if (!sameBytes(version.tlv, VERSION_1)) throw strict('CSR version is not 1');
  expectTag(subject.tag, TAG.sequence);
  const hasCommonName = readName(subject.value);
  readSpki(spki);
  if (attributes.tag !== 0xa0) throw strict('no attributes [0]');
  const signatureHash = readSignatureAlgorithm(algorithm);
  expectTag(signatureBits.tag, TAG.bitString);
  if (signatureBits.value[0] !== 0) throw strict('signature BIT STRING with unused bits');
  return {
    info: info.tlv,
    subject: subject.tlv,
    spki: spki.tlv,
    extensions: readExtensionRequest(attributes.value),
    hasCommonName,
    signatureHash,
    signature: signatureBits.value.subarray(1),
  };
}

/** Whether an Extension's value (an ExtendedKeyUsage SEQUENCE OF OID) lists `usage` (dotted OID). */
export function extensionListsOid(extension: Uint8Array, usage: string): boolean {
  const value = readExtension(extension).value;
  const list = strictSingle(strictSingle(value, TAG.octetString).value, TAG.sequence);
  return strictChildren(list.value).some((item) => {
    expectTag(item.tag, TAG.oid);
    return oidString(item.value) === usage;
  });
}

/** SEQUENCE OF SET OF AttributeTypeAndValue; returns whether a CN is among them. */
function readName(value: Uint8Array): boolean {
  let commonName = false;
  for (const rdn of strictChildren(value)) {
    expectTag(rdn.tag, TAG.set);
    const attributes = strictChildren(rdn.value);
    if (attributes.length === 0) throw strict('empty RDN');
    for (const attribute of attributes) {
      expectTag(attribute.tag, TAG.sequence);
      const [type, attributeValue, ...rest] = strictChildren(attribute.value);
      if (!type || !attributeValue || rest.length > 0) throw strict('AttributeTypeAndValue has two parts');
      expectTag(type.tag, TAG.oid);
      if (sameBytes(type.tlv, OID_COMMON_NAME)) commonName = true;
    }
  }
  return commonName;
}

function readSpki(spki: { tag: number; value: Uint8Array }): void {
  expectTag(spki.tag, TAG.sequence);
  const [algorithm, key, ...rest] = strictChildren(spki.value);
  if (!algorithm || !key || rest.length > 0) throw strict('SubjectPublicKeyInfo has two parts');
  expectTag(algorithm.tag, TAG.sequence);
  const [oid] = strictChildren(algorithm.value);
  if (!oid) throw strict('AlgorithmIdentifier without an OID');
  expectTag(oid.tag, TAG.oid);
  expectTag(key.tag, TAG.bitString);
  if (key.value[0] !== 0) throw strict('public key BIT STRING with unused bits');
}

function readSignatureAlgorithm(algorithm: { tag: number; value: Uint8Array }): CsrDer['signatureHash'] {
  expectTag(algorithm.tag, TAG.sequence);
  const [oid, params, ...rest] = strictChildren(algorithm.value);
  if (!oid || rest.length > 0) throw strict('AlgorithmIdentifier has one or two parts');
  expectTag(oid.tag, TAG.oid);
  const name = oidString(oid.value);
  const known = SIGNATURE_ALGORITHMS.find((entry) => entry.oid === name);
  if (!known) throw strict(`signature algorithm ${name} is read generically`);
  // ECDSA: no parameters (RFC 5758); RSA: NULL (RFC 4055 allows absent too).
  if (params && !(known.rsa && sameBytes(params.tlv, NULL))) throw strict('unexpected algorithm parameters');
  return known.hash;
}

/** The first extensionRequest attribute's Extensions, by OID (first wins, as @peculiar/x509 reads). */
function readExtensionRequest(attributes: Uint8Array): Map<string, Uint8Array> {
  const extensions = new Map<string, Uint8Array>();
  for (const attribute of strictChildren(attributes)) {
    expectTag(attribute.tag, TAG.sequence);
    const [type, values, ...rest] = strictChildren(attribute.value);
    if (!type || !values || rest.length > 0) throw strict('Attribute has two parts');
    expectTag(type.tag, TAG.oid);
    expectTag(values.tag, TAG.set);
    const items = strictChildren(values.value);
    if (!sameBytes(type.tlv, OID_EXTENSION_REQUEST)) continue;
    if (extensions.size > 0 || items.length !== 1) throw strict('more than one extensionRequest');
    const [list] = items;
    if (!list) throw strict('empty extensionRequest');
    expectTag(list.tag, TAG.sequence);
    for (const extension of strictChildren(list.value)) {
      const oid = readExtension(extension.tlv).oid;
      if (!extensions.has(oid)) extensions.set(oid, extension.tlv);
    }
    if (extensions.size === 0) throw strict('empty extensionRequest');
  }
  return extensions;
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE (DER: TRUE or absent), extnValue }. */
function readExtension(tlv: Uint8Array): { oid: string; value: Uint8Array } {
  const extension = strictSingle(tlv, TAG.sequence);
  const parts = strictChildren(extension.value);
  const [id, second, third, ...rest] = parts;
  if (!id || !second || rest.length > 0) throw strict('Extension has two or three parts');
  expectTag(id.tag, TAG.oid);
  const value = third ?? second;
  if (third && !sameBytes(second.tlv, BOOLEAN_TRUE)) throw strict('critical is not DER TRUE');
  expectTag(value.tag, TAG.octetString);
  return { oid: oidString(id.value), value: value.tlv };
}

function expectTag(tag: number, wanted: number): void {
  if (tag !== wanted) throw strict(`tag 0x${tag.toString(16)} where 0x${wanted.toString(16)} belongs`);
}

function strict(message: string): NotStrictDerError {
  return new NotStrictDerError(message);
}

function oidBytes(...value: number[]): Uint8Array {
  return Uint8Array.of(TAG.oid, value.length, ...value);
}
