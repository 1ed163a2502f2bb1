import { createHash } from 'node:crypto';
import { NotStrictDerError, oidString, pemBlocks, sameBytes, strictSingle } from '../../pki/index.js';
import { TrustError } from '../trust-error.js';
import {
  CertificateFacts,
  distinguishedNameKey,
  distinguishedNameText,
  readSignatureAlgorithm,
  type SignatureAlgorithm,
  ValidationFailure,
  verifySignature,
} from '../validation/index.js';
import { DerScanner } from './der-scanner.js';
import { issuerCertificate } from './issuer-certificate.js';

/** One revoked certificate of a CRL. */
export interface CrlEntry {
  /** The serial's DER INTEGER content octets, as the certificate encodes them. */
  serial: Uint8Array;
  revocationDate: Date;
  /** CRLReason (RFC 5280 §5.3.1), when the entry has one: 1 keyCompromise, 2 cACompromise, … */
  reasonCode: number | undefined;
}

/** Called once per entry by `forEachEntry`: no object per entry beyond the serial view. */
export type CrlEntryVisitor = (
  serial: Uint8Array,
  revokedAtMs: number,
  reasonCode: number | undefined,
) => void;

// Extension OIDs as value octets (2.5.29.x), compared as bytes.
const REASON_CODE = Uint8Array.of(0x55, 0x1d, 0x15);
const INVALIDITY_DATE = Uint8Array.of(0x55, 0x1d, 0x18);
const CERTIFICATE_ISSUER = Uint8Array.of(0x55, 0x1d, 0x1d);
const CRL_NUMBER = Uint8Array.of(0x55, 0x1d, 0x14);
const AUTHORITY_KEY_IDENTIFIER = Uint8Array.of(0x55, 0x1d, 0x23);
const DELTA_CRL_INDICATOR = Uint8Array.of(0x55, 0x1d, 0x1b);
const ISSUING_DISTRIBUTION_POINT = Uint8Array.of(0x55, 0x1d, 0x1c);

const TAG_INTEGER = 0x02;
const TAG_SEQUENCE = 0x30;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;

/** Curves a CRL signer's EC key may be on. */
const CRL_SIGNER_CURVES: ReadonlySet<string> = new Set(['P-256', 'P-384', 'P-521']);

/**
 * An X.509 CRL (RFC 5280 §5, v1 or v2), read strictly from DER or PEM. Parsing checks every
 * entry (so a CRL that is accepted is wholly well-formed) but keeps none of them: entries are read
 * again from the DER by `forEachEntry` / `entries()` when someone needs them.
 *
 * Full CRLs only: delta CRLs, indirect CRLs (certificateIssuer) and partitioned CRLs (an
 * issuingDistributionPoint with a scope) are refused with EGW_TRUST_CRL_REJECTED, because
 * storing one as if it were complete would answer "good" for certificates it does not cover.
 */
export class Crl {
  /** The CertificateList DER (PEM input is decoded). */
  readonly der: Uint8Array;
  /** Where it came from, for messages. */
  readonly source: string;
  readonly version: 1 | 2;
  /** The tbsCertList's complete encoding: what the signature covers. */
  readonly tbs: Uint8Array;
  readonly signatureAlgorithmOid: string;
  /**
   * The algorithm, read as path validation reads a certificate's: `isSignedBy` refuses the weak ones
   * (MD5, SHA-1) and those it cannot verify (scheme 'other'), as certificates are refused.
   */
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** The signatureValue BIT STRING's octets (after the unused-bits octet). */
  readonly signature: Uint8Array;
  /** The issuer Name's complete DER encoding. */
  readonly issuerDer: Uint8Array;
  readonly issuer: string;
  /** SHA-256 of `issuerDer`, hex (listings; the store keys CRLs by their signer). */
  readonly issuerNameSha256: string;
  /**
   * The issuer Name's RFC 5280 §7.1 comparison key: the CRL's issuer matches a CA whose
   * `subjectNameKey` this is, whatever bytes either spells the name with.
   */
  readonly issuerNameKey: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly crlNumber: bigint | undefined;
  readonly authorityKeyIdentifier: Uint8Array | undefined;
  readonly entryCount: number;
  /** SHA-256 of `der`, hex. */
  readonly sha256: string;
  readonly #scanner: DerScanner;
  readonly #entriesStart: number;
  readonly #entriesEnd: number;
  // The entry `#readEntry` read last: fields rather than an object, so walking 1M entries allocates nothing.
  #serialStart = 0;
  #serialEnd = 0;
  #revokedAt = 0;
  #reason: number | undefined;

  private constructor(der: Uint8Array, source: string) {
    this.der = der;
    this.source = source;
    const scanner = new DerScanner(der, `CRL from ${source}`);
    this.#scanner = scanner;
    const outer = scanner.read(0, der.length, 'CertificateList', TAG_SEQUENCE);
    const outerEnd = outer.end;
    if (outerEnd !== der.length) {
      scanner.fail(outerEnd, `${der.length - outerEnd} trailing bytes after the CertificateList`);
    }
    const tbsAt = outer.start;
    const tbsEnd = scanner.read(tbsAt, outerEnd, 'tbsCertList', TAG_SEQUENCE).end;
    let at = scanner.start;
    this.tbs = der.subarray(tbsAt, tbsEnd);

    const algorithmEnd = scanner.read(tbsEnd, outerEnd, 'signatureAlgorithm', TAG_SEQUENCE).end;
    const algorithmDer = der.subarray(tbsEnd, algorithmEnd);
    this.signatureAlgorithm = readAlgorithm(scanner, tbsEnd, algorithmDer);
    this.signatureAlgorithmOid = this.signatureAlgorithm.oid;
    const signature = scanner.read(algorithmEnd, outerEnd, 'signatureValue', 0x03);
    if (signature.end !== outerEnd) scanner.fail(signature.end, 'unexpected element after signatureValue');
    if (signature.end - signature.start < 2 || der[signature.start] !== 0) {
      scanner.fail(signature.start, 'signatureValue: empty or with unused bits');
    }
    this.signature = der.subarray(signature.start + 1, signature.end);

    let version: 1 | 2 = 1;
    if (der[at] === TAG_INTEGER) {
      const value = scanner.read(at, tbsEnd, 'version', TAG_INTEGER);
      if (value.end - value.start !== 1 || der[value.start] !== 1) {
        scanner.fail(at, 'version: only v2 (1) may be written; v1 is written by leaving it out');
      }
      version = 2;
      at = value.end;
    }
    this.version = version;
    const innerAlgorithmAt = at;
    at = scanner.read(at, tbsEnd, 'tbsCertList.signature', TAG_SEQUENCE).end;
    if (!sameBytes(der.subarray(innerAlgorithmAt, at), algorithmDer)) {
      scanner.fail(innerAlgorithmAt, 'tbsCertList.signature differs from signatureAlgorithm');
    }
    const issuerAt = at;
    at = scanner.read(at, tbsEnd, 'issuer', TAG_SEQUENCE).end;
    if (scanner.end === scanner.start) scanner.fail(issuerAt, 'issuer: empty Name');
    this.issuerDer = der.subarray(issuerAt, at);
    this.issuer = nameText(this.issuerDer);
    this.issuerNameSha256 = createHash('sha256').update(this.issuerDer).digest('hex');
    this.issuerNameKey = nameKey(this.issuerDer, this.issuerNameSha256);
    scanner.read(at, tbsEnd, 'thisUpdate');
    this.thisUpdate = new Date(scanner.time('thisUpdate'));
    at = scanner.end;
    if (at < tbsEnd && (der[at] === TAG_UTC_TIME || der[at] === TAG_GENERALIZED_TIME)) {
      scanner.read(at, tbsEnd, 'nextUpdate');
      this.nextUpdate = new Date(scanner.time('nextUpdate'));
      at = scanner.end;
      if (this.nextUpdate.getTime() < this.thisUpdate.getTime()) {
        scanner.fail(at, 'nextUpdate is before thisUpdate');
      }
    }
    this.#entriesStart = at;
    this.#entriesEnd = at;
    if (at < tbsEnd && der[at] === TAG_SEQUENCE) {
      const list = scanner.read(at, tbsEnd, 'revokedCertificates', TAG_SEQUENCE);
      this.#entriesStart = list.start;
      this.#entriesEnd = list.end;
      at = list.end;
    }
    let crlNumber: bigint | undefined;
    let authorityKeyIdentifier: Uint8Array | undefined;
    if (at < tbsEnd && der[at] === 0xa0) {
      if (version !== 2) scanner.fail(at, 'crlExtensions in a v1 CRL');
      const wrapperEnd = scanner.read(at, tbsEnd, 'crlExtensions').end;
      this.#readExtensions(
        scanner.start,
        wrapperEnd,
        'crlExtensions',
        (oid, valueStart, valueEnd, critical) => {
          if (sameBytes(oid, CRL_NUMBER)) {
            if (critical)
              throw rejected(source, 'cRLNumber is marked critical (RFC 5280 §5.2.3: MUST be non-critical)');
            scanner.read(valueStart, valueEnd, 'cRLNumber', TAG_INTEGER).minimalInteger('cRLNumber');
            const value = scanner.value();
            if (((value[0] as number) & 0x80) !== 0 || value.length > 20) {
              scanner.fail(valueStart, 'cRLNumber: negative or longer than 20 octets');
            }
            crlNumber = BigInt(`0x${Buffer.from(value).toString('hex')}`);
          } else if (sameBytes(oid, AUTHORITY_KEY_IDENTIFIER)) {
            const akiEnd = scanner.read(valueStart, valueEnd, 'authorityKeyIdentifier', TAG_SEQUENCE).end;
            if (scanner.start < akiEnd && der[scanner.start] === 0x80) {
              authorityKeyIdentifier = scanner.read(scanner.start, akiEnd, 'keyIdentifier').value();
            }
          } else if (sameBytes(oid, DELTA_CRL_INDICATOR)) {
            throw rejected(source, 'delta CRLs are not supported (only full CRLs are cached)');
          } else if (sameBytes(oid, ISSUING_DISTRIBUTION_POINT)) {
            this.#checkIssuingDistributionPoint(valueStart, valueEnd);
          } else if (critical) {
            throw rejected(source, `unsupported critical CRL extension ${oidString(oid)}`);
          }
        },
      );
      at = wrapperEnd;
    }
    if (at !== tbsEnd) scanner.fail(at, 'unexpected element in tbsCertList');
    this.crlNumber = crlNumber;
    this.authorityKeyIdentifier = authorityKeyIdentifier;

    let count = 0;
    for (let entryAt = this.#entriesStart; entryAt < this.#entriesEnd; count++) {
      entryAt = this.#readEntry(entryAt);
    }
    this.entryCount = count;
    this.sha256 = createHash('sha256').update(der).digest('hex');
  }

  /**
   * Parses a CRL in DER or PEM ("-----BEGIN X509 CRL-----"). Malformed, truncated or trailing bytes
   * are EGW_TRUST_MALFORMED naming the offset; unsupported kinds of CRL are EGW_TRUST_CRL_REJECTED.
   */
  static parse(bytes: Uint8Array, source = 'input'): Crl {
    return new Crl(derOf(bytes, source), source);
  }

  /** Calls `visit` for each entry, in CRL order, reading straight from the DER. */
  forEachEntry(visit: CrlEntryVisitor): void {
    const der = this.der;
    for (let at = this.#entriesStart; at < this.#entriesEnd; ) {
      at = this.#readEntry(at);
      visit(der.subarray(this.#serialStart, this.#serialEnd), this.#revokedAt, this.#reason);
    }
  }

  /** The entries as objects, one at a time (for listings and tests; bulk work uses `forEachEntry`). */
  *entries(): Generator<CrlEntry> {
    for (let at = this.#entriesStart; at < this.#entriesEnd; ) {
      at = this.#readEntry(at);
      yield {
        serial: this.der.subarray(this.#serialStart, this.#serialEnd),
        revocationDate: new Date(this.#revokedAt),
        reasonCode: this.#reason,
      };
    }
  }

  /**
   * Whether the signature verifies with `issuer`'s key (a DER certificate or its CertificateFacts),
   * checked by path validation's signature check. An algorithm this gateway does not accept (SHA-1,
   * MD5, …), a key of the wrong kind or on another curve than P-256/384/521, or a key node:crypto
   * cannot load is EGW_TRUST_CRL_REJECTED rather than false.
   */
  isSignedBy(issuer: CertificateFacts | Uint8Array): boolean {
    const algorithm = this.signatureAlgorithm;
    if (algorithm.weak || algorithm.scheme === 'other') {
      const why = algorithm.weak
        ? 'a weak digest, refused as in certificates'
        : 'not one the gateway verifies';
      const name = algorithm.name === algorithm.oid ? '' : `${algorithm.name}: `;
      throw rejected(this.source, `signature algorithm ${algorithm.oid} is not accepted (${name}${why})`);
    }
    const certificate = issuer instanceof CertificateFacts ? issuer : issuerCertificate(issuer);
    const key = certificate.keyAlgorithm;
    if (algorithm.scheme === 'ecdsa' && key.kind === 'ec' && !CRL_SIGNER_CURVES.has(key.curve)) {
      throw rejected(this.source, `bad signature: curve ${key.curve} is not accepted`);
    }
    const verdict = verifySignature(this, certificate);
    if (verdict === 'key-mismatch') {
      const kind = key.kind === 'other' ? key.oid : key.kind;
      throw rejected(
        this.source,
        `bad signature: a ${algorithm.name} signature cannot be checked with a ${kind} key`,
      );
    }
    if (verdict === 'key-unloadable') {
      throw rejected(
        this.source,
        `bad signature: node:crypto cannot load the key of "${certificate.subject}"`,
      );
    }
    return verdict === 'valid';
  }

  /** Reads the revokedCertificates entry at `at` into the #fields; returns the next entry's offset. */
  #readEntry(at: number): number {
    const scanner = this.#scanner;
    const entryEnd = scanner.read(at, this.#entriesEnd, 'revokedCertificate', TAG_SEQUENCE).end;
    scanner.read(scanner.start, entryEnd, 'userCertificate', TAG_INTEGER).minimalInteger('userCertificate');
    this.#serialStart = scanner.start;
    this.#serialEnd = scanner.end;
    scanner.read(scanner.end, entryEnd, 'revocationDate');
    this.#revokedAt = scanner.time('revocationDate');
    this.#reason = undefined;
    if (scanner.end < entryEnd) {
      if (this.version !== 2) scanner.fail(scanner.end, 'crlEntryExtensions in a v1 CRL');
      const extensionsAt = scanner.end;
      scanner.read(extensionsAt, entryEnd, 'crlEntryExtensions', TAG_SEQUENCE);
      if (scanner.end !== entryEnd) scanner.fail(scanner.end, 'unexpected element in revokedCertificate');
      this.#readExtensions(extensionsAt, entryEnd, 'crlEntryExtensions', this.#entryExtension);
    }
    return entryEnd;
  }

  readonly #entryExtension = (oid: Uint8Array, valueStart: number, valueEnd: number, critical: boolean) => {
    const scanner = this.#scanner;
    if (sameBytes(oid, REASON_CODE)) {
      scanner.read(valueStart, valueEnd, 'reasonCode', 0x0a);
      const reason = this.der[scanner.start] as number;
      // CRLReason 0..10 without 7 (unused), one octet.
      if (scanner.end - scanner.start !== 1 || reason > 10 || reason === 7 || scanner.end !== valueEnd) {
        scanner.fail(valueStart, 'reasonCode: not a CRLReason');
      }
      this.#reason = reason;
    } else if (sameBytes(oid, CERTIFICATE_ISSUER)) {
      throw rejected(this.source, 'indirect CRLs (certificateIssuer entries) are not supported');
    } else if (sameBytes(oid, INVALIDITY_DATE)) {
      // Informational only: revocation is judged by the entry's presence, not by this date.
    } else if (critical) {
      throw rejected(this.source, `unsupported critical CRL entry extension ${oidString(oid)}`);
    }
  };

  /**
   * Walks `SEQUENCE OF Extension` (wrapped in `[0]` for CRL extensions) from `at` to `end`, calling
   * `visit` with each extnID and extnValue's value bounds. Duplicate extensions are malformed.
   */
  #readExtensions(
    at: number,
    end: number,
    what: string,
    visit: (oid: Uint8Array, valueStart: number, valueEnd: number, critical: boolean) => void,
  ): void {
    const scanner = this.#scanner;
    const der = this.der;
    const listEnd = scanner.read(at, end, what, TAG_SEQUENCE).end;
    if (listEnd !== end) scanner.fail(listEnd, `unexpected element after ${what}`);
    if (scanner.start === listEnd) scanner.fail(at, `${what}: empty`);
    let first: Uint8Array | undefined;
    let seen: Uint8Array[] | undefined;
    for (let extensionAt = scanner.start; extensionAt < listEnd; ) {
      const extensionEnd = scanner.read(extensionAt, listEnd, 'Extension', TAG_SEQUENCE).end;
      const oid = scanner.read(scanner.start, extensionEnd, 'extnID', 0x06).value();
      let critical = false;
      if (der[scanner.end] === 0x01) {
        // DER leaves DEFAULT FALSE out: an explicit BOOLEAN must be TRUE (0xff).
        const flagAt = scanner.end;
        scanner.read(flagAt, extensionEnd, 'critical', 0x01);
        if (scanner.end - scanner.start !== 1 || der[scanner.start] !== 0xff) {
          scanner.fail(flagAt, 'critical: only TRUE may be written');
        }
        critical = true;
      }
      const value = scanner.read(scanner.end, extensionEnd, 'extnValue', 0x04);
      if (value.end !== extensionEnd) scanner.fail(value.end, 'unexpected element in Extension');
      // Most entries have one extension: the list of seen OIDs is only made for a second one.
      if (first === undefined) first = oid;
      else {
        seen ??= [first];
        if (seen.some((other) => sameBytes(other, oid))) {
          scanner.fail(extensionAt, `${what}: extension ${oidString(oid)} appears twice`);
        }
        seen.push(oid);
      }
      visit(oid, value.start, value.end, critical);
      extensionAt = extensionEnd;
    }
  }

  /** An issuingDistributionPoint naming only the distribution point is fine; any scope is refused. */
  #checkIssuingDistributionPoint(start: number, end: number): void {
    const scanner = this.#scanner;
    const sequenceEnd = scanner.read(start, end, 'issuingDistributionPoint', TAG_SEQUENCE).end;
    for (let at = scanner.start; at < sequenceEnd; ) {
      scanner.read(at, sequenceEnd, 'issuingDistributionPoint field');
      if (scanner.tag !== 0xa0) {
        throw rejected(
          this.source,
          'partitioned or indirect CRLs (issuingDistributionPoint with a scope) are not supported',
        );
      }
      at = scanner.end;
    }
  }
}

/** The signature AlgorithmIdentifier at `offset`, read as path validation reads a certificate's. */
function readAlgorithm(scanner: DerScanner, offset: number, algorithmDer: Uint8Array): SignatureAlgorithm {
  try {
    return readSignatureAlgorithm(strictSingle(algorithmDer, TAG_SEQUENCE), 'signatureAlgorithm');
  } catch (error) {
    if (error instanceof ValidationFailure) return scanner.fail(offset, error.refusal.detail);
    if (error instanceof NotStrictDerError)
      return scanner.fail(offset, `signatureAlgorithm: ${error.message}`);
    throw error;
  }
}

/**
 * A Name's §7.1 comparison key; for a name our reader refuses, one no certificate subject has (a
 * certificate with such a subject does not parse), so the CRL matches no CA and is refused as such.
 */
function nameKey(nameDer: Uint8Array, sha256: string): string {
  try {
    return distinguishedNameKey(nameDer, 'issuer');
  } catch {
    return `unreadable:${sha256}`;
  }
}

/** A Name's readable text for messages and listings (names are compared by their §7.1 key, never by this). */
function nameText(nameDer: Uint8Array): string {
  try {
    return distinguishedNameText(nameDer, 'issuer');
  } catch {
    return `(unreadable name, ${nameDer.length} octets)`;
  }
}

function derOf(bytes: Uint8Array, source: string): Uint8Array {
  let first = 0;
  while (first < bytes.length && isSpace(bytes[first] as number)) first++;
  if (bytes[first] !== 0x2d) return bytes; // not '-': DER
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const blocks = pemBlocks(text, 'X509 CRL');
  if (blocks.length !== 1) {
    throw new TrustError(
      'EGW_TRUST_MALFORMED',
      `CRL from ${source}: PEM with ${blocks.length} "X509 CRL" blocks (exactly one expected) at offset ${first}`,
    );
  }
  return blocks[0] as Uint8Array;
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function rejected(source: string, reason: string): TrustError {
  return new TrustError('EGW_TRUST_CRL_REJECTED', `CRL from ${source}: ${reason}`);
}
