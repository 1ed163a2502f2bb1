import { hash } from 'node:crypto';
import {
  DER_TAG,
  type DerTlv,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derTlv,
  sameBytes,
  strictChildren,
  strictSingle,
} from '../../pki/index.js';
import type { CertificateFacts } from '../validation/index.js';
import { expectTag, hex, integerOctets, malformed, oidOf } from './ocsp-der.js';
import { OCSP_OID } from './oids.js';

const NULL = derTlv(0x05);

/**
 * CertID (RFC 6960 §4.1.1): which certificate a request asks about and a single response answers
 * for — hashes of the issuer's name and key, and the serial. SHA-1 here names, it does not sign:
 * it is what responders index by, and collisions cannot make a responder sign for another issuer.
 */
export class CertId {
  /** OID of the hash algorithm of the two hashes. */
  readonly hashAlgorithm: string;
  /** Hash of the issuer's Name DER. */
  readonly issuerNameHash: Uint8Array;
  /** Hash of the issuer's subjectPublicKey BIT STRING value (no tag, length, unused-bits octet). */
  readonly issuerKeyHash: Uint8Array;
  /** INTEGER content octets of the certificate's serialNumber. */
  readonly serial: Uint8Array;

  private constructor(
    hashAlgorithm: string,
    issuerNameHash: Uint8Array,
    issuerKeyHash: Uint8Array,
    serial: Uint8Array,
  ) {
    this.hashAlgorithm = hashAlgorithm;
    this.issuerNameHash = issuerNameHash;
    this.issuerKeyHash = issuerKeyHash;
    this.serial = serial;
    Object.freeze(this);
  }

  /** The SHA-1 CertID of `certificate` issued by `issuer` (the caller has paired them). */
  static of(certificate: CertificateFacts, issuer: CertificateFacts): CertId {
    return new CertId(
      OCSP_OID.sha1,
      sha1(certificate.issuerDer), // RFC 6960 §4.1.1: the issuer field of the certificate checked
      publicKeySha1(issuer),
      new Uint8Array(certificate.serial),
    );
  }

  /** CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash OCTET STRING, issuerKeyHash OCTET STRING, serialNumber }. */
  static read(element: DerTlv | undefined, where: string): CertId {
    const fields = strictChildren(expectTag(element, DER_TAG.sequence, where).value);
    if (fields.length !== 4) throw malformed(`${where} must hold four elements, has ${fields.length}`);
    const [algorithm, nameHash, keyHash, serial] = fields as [DerTlv, DerTlv, DerTlv, DerTlv];
    const [oid, parameters, extra] = strictChildren(
      expectTag(algorithm, DER_TAG.sequence, `${where} hashAlgorithm`).value,
    );
    // Parameters are NULL or absent for every hash (RFC 5754 §2); both occur in the wild.
    if (
      extra !== undefined ||
      (parameters !== undefined && (parameters.tag !== 0x05 || parameters.value.length))
    ) {
      throw malformed(`${where} hashAlgorithm parameters must be NULL or absent`);
    }
    return new CertId(
      oidOf(oid, `${where} hashAlgorithm OID`),
      expectTag(nameHash, DER_TAG.octetString, `${where} issuerNameHash`).value,
      expectTag(keyHash, DER_TAG.octetString, `${where} issuerKeyHash`).value,
      integerOctets(serial, `${where} serialNumber`),
    );
  }

  /** The DER, with NULL hash parameters as OpenSSL and most clients write them. */
  get der(): Uint8Array {
    return derSequence(
      derSequence(derOid(this.hashAlgorithm), NULL),
      derOctetString(this.issuerNameHash),
      derOctetString(this.issuerKeyHash),
      derInteger(this.serial),
    );
  }

  /** Same hash algorithm, same hashes, same serial: the same certificate (parameter encoding aside). */
  matches(other: CertId): boolean {
    return (
      this.hashAlgorithm === other.hashAlgorithm &&
      sameBytes(this.issuerNameHash, other.issuerNameHash) &&
      sameBytes(this.issuerKeyHash, other.issuerKeyHash) &&
      sameBytes(this.serial, other.serial)
    );
  }

  /** Issuer key hash and serial in hex: the cache key of an answer. */
  get key(): string {
    return `${hex(this.issuerKeyHash)}:${hex(this.serial)}`;
  }

  /** "serial 1001, issuer key hash 1a40…, issuer name hash 3559…" for messages. */
  describe(): string {
    return `serial ${hex(this.serial)}, issuer name hash ${hex(this.issuerNameHash)}, issuer key hash ${hex(this.issuerKeyHash)}`;
  }
}

/** SHA-1 of the subjectPublicKey BIT STRING value: CertID's issuerKeyHash and ResponderID byKey. */
export function publicKeySha1(certificate: CertificateFacts): Uint8Array {
  const spki = strictSingle(certificate.spki, DER_TAG.sequence);
  const key = strictChildren(spki.value)[1];
  if (key?.tag !== DER_TAG.bitString || key.value.length === 0) {
    throw malformed(`the public key of ${certificate.subject} is not a BIT STRING`);
  }
  return sha1(key.value.subarray(1));
}

function sha1(data: Uint8Array): Uint8Array {
  return new Uint8Array(hash('sha1', data, 'buffer'));
}
