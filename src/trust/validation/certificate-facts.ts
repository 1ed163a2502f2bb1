import { createPublicKey, hash, type KeyObject } from 'node:crypto';
import { DER_TAG, type DerTlv, NotStrictDerError, strictChildren, strictSingle } from '../../pki/index.js';
import {
  type BasicConstraints,
  type CertificateExtension,
  type KeyUsageName,
  readExtensions,
  type SubjectAltName,
} from './certificate-extensions.js';
import {
  expectTag,
  hex,
  integerOctets,
  malformed,
  octetAlignedBits,
  smallInteger,
  timeOf,
} from './der-values.js';
import { readDistinguishedName } from './distinguished-name.js';
import { type KeyAlgorithm, readKeyAlgorithm } from './key-algorithm.js';
import { ATTRIBUTE } from './oids.js';
import { readSignatureAlgorithm, type SignatureAlgorithm } from './signature-algorithm.js';
import { ValidationFailure } from './validation-failure.js';

/** Larger certificates are refused before parsing: a sensor's is ~1 KB, 16 KB leaves room for RSA-4096 CAs. */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;

/**
 * One X.509 certificate, parsed strictly once (RFC 5280 §4.1) and then only read: everything path
 * validation and the sensor identity need, precomputed so a cached certificate costs no parsing.
 */
export class CertificateFacts {
  readonly der: Uint8Array;
  /** SHA-256 of `der`, lower-case hex: the certificate's thumbprint and cache key. */
  readonly sha256: string;
  /** 1, 2 or 3. */
  readonly version: number;
  /** The signed part (tbsCertificate), verbatim. */
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  /** INTEGER content octets. */
  readonly serial: Uint8Array;
  /**
   * Lower-case hex without leading zeros ("0" for zero); a negative serial (two's complement, only
   * accepted under lenient_serials) is "-" and its magnitude, as `openssl x509 -serial` prints it.
   */
  readonly serialHex: string;
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  /** Readable names, as @peculiar/x509 + readableName print them ("CN=sensor-1, serialNumber=0001"). */
  readonly issuer: string;
  readonly subject: string;
  /** SHA-256 of the issuer/subject Name DER, byte for byte (how CRLs name their issuer). */
  readonly issuerNameSha256: string;
  readonly subjectNameSha256: string;
  /**
   * The issuer/subject names in RFC 5280 §7.1 comparison form (case-insensitive, whitespace folded;
   * see DistinguishedName.comparisonKey): how names chain and issuers are looked up.
   */
  readonly issuerNameKey: string;
  readonly subjectNameKey: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  readonly spki: Uint8Array;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly extensions: readonly CertificateExtension[];
  /** OIDs of the critical extensions (checked on every validation, so kept apart). */
  readonly criticalExtensionOids: readonly string[];
  readonly basicConstraints: BasicConstraints | undefined;
  readonly keyUsage: ReadonlySet<KeyUsageName> | undefined;
  /** Purpose OIDs. */
  readonly extendedKeyUsage: readonly string[] | undefined;
  /** Lower-case hex. */
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  readonly subjectAltNames: readonly SubjectAltName[];
  /** URIs of the CRL distribution points. */
  readonly crlDistributionPoints: readonly string[];
  readonly commonName: string | undefined;
  /** The subject's serialNumber attribute (2.5.4.5): the device serial. */
  readonly serialNumberAttribute: string | undefined;
  /** Issuer and subject names are the same name, §7.1 (a root, or a CA's key rollover certificate). */
  readonly selfIssued: boolean;
  #publicKey: KeyObject | undefined;

  private constructor(der: Uint8Array) {
    this.der = der;
    this.sha256 = hash('sha256', der, 'hex');
    const certificate = strictSingle(der, DER_TAG.sequence);
    const [tbs, outerAlgorithm, signature, extra] = strictChildren(certificate.value);
    if (extra !== undefined) throw malformed('Certificate has more than three elements');
    expectTag(tbs, DER_TAG.sequence, 'tbsCertificate');
    this.tbs = (tbs as DerTlv).tlv;
    this.signature = octetAlignedBits(
      expectTag(signature, DER_TAG.bitString, 'signatureValue'),
      'signatureValue',
    );

    const fields = strictChildren((tbs as DerTlv).value);
    let next = 0;
    const field = () => fields[next++];
    this.version = fields[0]?.tag === 0xa0 ? readVersion(field() as DerTlv) : 1;
    this.serial = integerOctets(field() as DerTlv, 'serialNumber');
    this.serialHex = serialText(this.serial);
    const innerAlgorithm = expectTag(field(), DER_TAG.sequence, 'tbsCertificate signature');
    if (
      !Buffer.from(innerAlgorithm.tlv).equals(
        expectTag(outerAlgorithm, DER_TAG.sequence, 'signatureAlgorithm').tlv,
      )
    ) {
      // RFC 5280 §4.1.1.2: otherwise the algorithm is not covered by the signature.
      throw malformed('signatureAlgorithm differs from the signature field of tbsCertificate');
    }
    this.signatureAlgorithm = readSignatureAlgorithm(innerAlgorithm, 'signature algorithm');
    const issuer = expectTag(field(), DER_TAG.sequence, 'issuer');
    const validity = strictChildren(expectTag(field(), DER_TAG.sequence, 'validity').value);
    const subject = expectTag(field(), DER_TAG.sequence, 'subject');
    const spki = expectTag(field(), DER_TAG.sequence, 'subjectPublicKeyInfo');
    if (validity.length !== 2) throw malformed('validity must hold notBefore and notAfter');
    this.notBefore = timeOf(validity[0], 'notBefore');
    this.notAfter = timeOf(validity[1], 'notAfter');

    // issuerUniqueID [1], subjectUniqueID [2] (v2+), extensions [3] (v3), in that order.
    let extensionsField: DerTlv | undefined;
    for (let optional = field(), lastTag = 0; optional !== undefined; optional = field()) {
      const known = optional.tag === 0x81 || optional.tag === 0x82 || optional.tag === 0xa3;
      if (!known || optional.tag <= lastTag)
        throw malformed(`unexpected tbsCertificate element 0x${optional.tag.toString(16)}`);
      if (this.version < (optional.tag === 0xa3 ? 3 : 2)) {
        throw malformed(
          `a version ${this.version} certificate cannot have element 0x${optional.tag.toString(16)}`,
        );
      }
      lastTag = optional.tag;
      if (optional.tag === 0xa3) extensionsField = optional;
    }

    const issuerName = readDistinguishedName(issuer, 'issuer');
    const subjectName = readDistinguishedName(subject, 'subject');
    this.issuerDer = issuer.tlv;
    this.subjectDer = subject.tlv;
    this.issuer = issuerName.readable;
    this.subject = subjectName.readable;
    this.issuerNameSha256 = hash('sha256', issuer.tlv, 'hex');
    this.subjectNameSha256 = hash('sha256', subject.tlv, 'hex');
    this.issuerNameKey = issuerName.comparisonKey;
    this.subjectNameKey = subjectName.comparisonKey;
    this.selfIssued = this.issuerNameKey === this.subjectNameKey;
    this.commonName = subjectName.attributes.find(
      (attribute) => attribute.oid === ATTRIBUTE.commonName,
    )?.text;
    this.serialNumberAttribute = subjectName.attributes.find(
      (attribute) => attribute.oid === ATTRIBUTE.serialNumber,
    )?.text;

    this.spki = spki.tlv;
    this.keyAlgorithm = readKeyAlgorithm(spki);
    const extensions = readExtensions(extensionsField);
    this.extensions = extensions.list;
    this.criticalExtensionOids = Object.freeze(
      extensions.list.filter((extension) => extension.critical).map((extension) => extension.oid),
    );
    this.basicConstraints = extensions.basicConstraints;
    this.keyUsage = extensions.keyUsage;
    this.extendedKeyUsage = extensions.extendedKeyUsage;
    this.subjectKeyId = extensions.subjectKeyId;
    this.authorityKeyId = extensions.authorityKeyId;
    this.subjectAltNames = extensions.subjectAltNames;
    this.crlDistributionPoints = extensions.crlDistributionPoints;
    for (const part of [
      this.extensions,
      this.subjectAltNames,
      this.crlDistributionPoints,
      this.basicConstraints,
    ]) {
      Object.freeze(part);
    }
    Object.freeze(this); // shared by every validation that meets these bytes (private fields stay writable)
  }

  /**
   * Parses `der` (copied: the caller's buffer may be reused). Throws ValidationFailure: 'oversized'
   * beyond MAX_CERTIFICATE_BYTES, 'duplicate-extension', or 'malformed' (not strict DER, trailing
   * bytes, a field out of place).
   */
  static parse(der: Uint8Array): CertificateFacts {
    if (der.length > MAX_CERTIFICATE_BYTES) {
      throw ValidationFailure.of(
        'oversized',
        `certificate is ${der.length} bytes, at most ${MAX_CERTIFICATE_BYTES} are accepted`,
      );
    }
    try {
      return new CertificateFacts(new Uint8Array(der));
    } catch (error) {
      if (error instanceof ValidationFailure) throw error;
      if (error instanceof NotStrictDerError) throw malformed(`not strict DER: ${error.message}`);
      throw malformed(`unreadable: ${(error as Error).message}`);
    }
  }

  /** The subject public key for node:crypto, made on first use (cached certificates are verified once). */
  get publicKey(): KeyObject {
    this.#publicKey ??= createPublicKey({ key: Buffer.from(this.spki), format: 'der', type: 'spki' });
    return this.#publicKey;
  }

  /** extnValue of the extension `oid` (the DER of its value), if present. */
  extensionValue(oid: string): Uint8Array | undefined {
    return this.extensions.find((extension) => extension.oid === oid)?.value;
  }
}

function serialText(serial: Uint8Array): string {
  if (((serial[0] ?? 0) & 0x80) === 0) return hex(serial).replace(/^0+(?=.)/, '');
  const magnitude = (1n << BigInt(serial.length * 8)) - BigInt(`0x${hex(serial)}`);
  return `-${magnitude.toString(16)}`;
}

/** version [0] EXPLICIT INTEGER { v1(0), v2(1), v3(2) }: v1 is the DEFAULT, so never encoded in DER. */
function readVersion(wrapper: DerTlv): number {
  const [version, extra] = strictChildren(wrapper.value);
  if (version === undefined || extra !== undefined) throw malformed('version is malformed');
  const value = smallInteger(version, 'version');
  if (value === 0) throw malformed('version v1 is encoded explicitly (DER omits the DEFAULT)');
  if (value > 2) throw malformed(`unknown certificate version ${value + 1}`);
  return value + 1;
}
