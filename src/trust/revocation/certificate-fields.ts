import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { sameBytes } from '../../pki/index.js';
import { DerScanner } from './der-scanner.js';
import { nameText } from './name-text.js';

// Extension OIDs as value octets: compared as bytes, no string per extension.
const KEY_USAGE = Uint8Array.of(0x55, 0x1d, 0x0f);
const SUBJECT_KEY_IDENTIFIER = Uint8Array.of(0x55, 0x1d, 0x0e);
const CRL_DISTRIBUTION_POINTS = Uint8Array.of(0x55, 0x1d, 0x1f);
const CRL_SIGN_BIT = 0x02; // keyUsage bit 6 in the first octet

/**
 * What revocation needs from an X.509 certificate, read with the strict DER reader: the subject
 * Name's DER (CRLs name their issuer by it), the public key, keyUsage cRLSign, the subject key
 * identifier and the http(s) CRL distribution points. Independent of the path validator on purpose.
 */
export class CertificateFields {
  readonly der: Uint8Array;
  /** SHA-256 of the certificate DER, lower-case hex. */
  readonly sha256: string;
  readonly subjectDer: Uint8Array;
  /** SHA-256 of the subject Name's DER, hex: the key CRLs of this CA are stored under. */
  readonly subjectNameSha256: string;
  readonly subject: string;
  readonly serial: Uint8Array;
  readonly spkiDer: Uint8Array;
  /** True unless a keyUsage extension is present without cRLSign (RFC 5280 §6.3.3 (f)). */
  readonly maySignCrls: boolean;
  readonly subjectKeyIdentifier: Uint8Array | undefined;
  /** http:// and https:// URIs of full-scope distribution points (no reasons, no cRLIssuer). */
  readonly crlDistributionPoints: readonly string[];
  #publicKey: KeyObject | undefined;

  private constructor(
    fields: Omit<CertificateFields, 'publicKey' | 'sha256' | 'subjectNameSha256' | 'subject'>,
  ) {
    this.der = fields.der;
    this.sha256 = createHash('sha256').update(fields.der).digest('hex');
    this.subjectDer = fields.subjectDer;
    this.subjectNameSha256 = createHash('sha256').update(fields.subjectDer).digest('hex');
    this.subject = nameText(fields.subjectDer);
    this.serial = fields.serial;
    this.spkiDer = fields.spkiDer;
    this.maySignCrls = fields.maySignCrls;
    this.subjectKeyIdentifier = fields.subjectKeyIdentifier;
    this.crlDistributionPoints = fields.crlDistributionPoints;
  }

  /** Reads `der`; EGW_TRUST_MALFORMED (with the offset) when it is not a strict DER certificate. */
  static parse(der: Uint8Array, what = 'certificate'): CertificateFields {
    const scanner = new DerScanner(der, what);
    const certificate = scanner.read(0, der.length, 'Certificate', 0x30);
    if (certificate.end !== der.length) scanner.fail(certificate.end, 'trailing bytes after the Certificate');
    const tbsEnd = scanner.read(certificate.start, certificate.end, 'tbsCertificate', 0x30).end;
    let at = scanner.start;
    if (der[at] === 0xa0) at = scanner.read(at, tbsEnd, 'version').end;
    const serial = scanner.read(at, tbsEnd, 'serialNumber', 0x02).value();
    at = scanner.read(scanner.end, tbsEnd, 'signature', 0x30).end;
    at = scanner.read(at, tbsEnd, 'issuer', 0x30).end;
    at = scanner.read(at, tbsEnd, 'validity', 0x30).end;
    const subjectAt = at;
    at = scanner.read(at, tbsEnd, 'subject', 0x30).end;
    const subjectDer = scanner.encoding(subjectAt);
    const spkiAt = at;
    at = scanner.read(at, tbsEnd, 'subjectPublicKeyInfo', 0x30).end;
    const spkiDer = scanner.encoding(spkiAt);
    let maySignCrls = true;
    let subjectKeyIdentifier: Uint8Array | undefined;
    let crlDistributionPoints: string[] = [];
    while (at < tbsEnd) {
      const tag = der[at];
      const fieldEnd = scanner.read(at, tbsEnd, 'tbsCertificate field').end;
      if (tag === 0xa3) {
        const extensionsEnd = scanner.read(scanner.start, fieldEnd, 'extensions', 0x30).end;
        for (let extensionAt = scanner.start; extensionAt < extensionsEnd; ) {
          const extensionEnd = scanner.read(extensionAt, extensionsEnd, 'extension', 0x30).end;
          const oid = scanner.read(scanner.start, extensionEnd, 'extnID', 0x06).value();
          let valueAt = scanner.end;
          if (der[valueAt] === 0x01) valueAt = scanner.read(valueAt, extensionEnd, 'critical').end;
          const value = scanner.read(valueAt, extensionEnd, 'extnValue', 0x04);
          const valueStart = value.start;
          const valueEnd = value.end;
          if (sameBytes(oid, KEY_USAGE)) {
            const bits = scanner.read(valueStart, valueEnd, 'keyUsage', 0x03);
            maySignCrls =
              bits.end - bits.start >= 2 && ((der[bits.start + 1] as number) & CRL_SIGN_BIT) !== 0;
          } else if (sameBytes(oid, SUBJECT_KEY_IDENTIFIER)) {
            subjectKeyIdentifier = scanner.read(valueStart, valueEnd, 'subjectKeyIdentifier', 0x04).value();
          } else if (sameBytes(oid, CRL_DISTRIBUTION_POINTS)) {
            crlDistributionPoints = readDistributionPoints(scanner, valueStart, valueEnd);
          }
          extensionAt = extensionEnd;
        }
      }
      at = fieldEnd;
    }
    return new CertificateFields({
      der,
      serial,
      subjectDer,
      spkiDer,
      maySignCrls,
      subjectKeyIdentifier,
      crlDistributionPoints,
    });
  }

  /** The certificate's public key (created on first use: most candidates are ruled out by name). */
  get publicKey(): KeyObject {
    this.#publicKey ??= createPublicKey({ key: Buffer.from(this.spkiDer), format: 'der', type: 'spki' });
    return this.#publicKey;
  }
}

/** CRLDistributionPoints ::= SEQUENCE OF DistributionPoint (RFC 5280 §4.2.1.13); keeps http(s) URIs. */
function readDistributionPoints(scanner: DerScanner, start: number, end: number): string[] {
  const urls: string[] = [];
  const points = scanner.read(start, end, 'cRLDistributionPoints', 0x30);
  const pointsEnd = points.end;
  for (let pointAt = points.start; pointAt < pointsEnd; ) {
    const pointEnd = scanner.read(pointAt, pointsEnd, 'DistributionPoint', 0x30).end;
    const names: string[] = [];
    let fullScope = true;
    for (let fieldAt = scanner.start; fieldAt < pointEnd; ) {
      const field = scanner.read(fieldAt, pointEnd, 'DistributionPoint field');
      const fieldEnd = field.end;
      if (field.tag === 0xa0) {
        // distributionPoint [0] { fullName [0] GeneralNames | nameRelativeToCRLIssuer [1] }
        const name = scanner.read(field.start, fieldEnd, 'distributionPoint');
        if (name.tag === 0xa0) {
          const generalNamesEnd = name.end;
          for (let nameAt = name.start; nameAt < generalNamesEnd; ) {
            const generalName = scanner.read(nameAt, generalNamesEnd, 'GeneralName');
            if (generalName.tag === 0x86) names.push(Buffer.from(generalName.value()).toString('latin1'));
            nameAt = generalName.end;
          }
        }
      } else {
        // reasons [1] or cRLIssuer [2]: a partial or indirect CRL, which this cache does not keep.
        fullScope = false;
      }
      fieldAt = fieldEnd;
    }
    if (fullScope) urls.push(...names.filter((url) => /^https?:\/\//i.test(url)));
    pointAt = pointEnd;
  }
  return urls;
}
