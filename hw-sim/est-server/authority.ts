import { createHash, createPrivateKey, KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { derContent, derElements } from '../../src/pki/der.js';
import * as x509 from '../../src/pki/x509.js';
import {
  signCertificate,
  keyIdentifier as spkiKeyIdentifier,
  subjectKeyIdentifierExtension,
  tbsCertificate,
} from './certificate-der.js';
import { type CryptoKey, generateEcKeys, privateKeyFromPem } from './ec-keys.js';

/** A certificate issued from DER parts (the device path): its encoding and what the audit tells. */
export interface IssuedDer {
  der: Uint8Array;
  /** The serial number, lowercase hex (as @peculiar/x509's serialNumber prints it). */
  serialNumber: string;
}

/** What `issueDer` copies into the certificate, each already DER. */
export interface IssueDerParams {
  /** The subject Name. */
  subject: Uint8Array;
  /** SubjectPublicKeyInfo. */
  spki: Uint8Array;
  /** Whole seconds: the certificate encodes no more. */
  notBefore: Date;
  notAfter: Date;
  /** Complete Extension encodings (SKI and AKI are appended). */
  extensions: Uint8Array[];
}

/** What a certificate signed by an Authority carries besides the SKI/AKI pair it always gets. */
export interface IssueParams {
  subject: string | x509.Name;
  publicKey: x509.PublicKey | CryptoKey;
  notBefore: Date;
  notAfter: Date;
  extensions: x509.Extension[];
}

export interface SubordinateParams {
  name: string;
  notBefore: Date;
  notAfter: Date;
  /** basicConstraints pathLenConstraint of the new CA. */
  pathLength: number;
}

/**
 * One CA: its certificate and the private key that signs with it. Every certificate it issues gets a
 * random positive 16-byte serial, ECDSA-SHA256, and SKI/AKI so that chain builders (ours, openssl)
 * find the issuer by key identifier, not only by name.
 */
export class Authority {
  readonly certificate: x509.X509Certificate;
  readonly privateKey: CryptoKey;
  /** The certificate's DER. */
  readonly der: Uint8Array;
  /** The AKI of everything this CA signs (its own SKI), encoded once. */
  readonly #authorityKeyId: x509.AuthorityKeyIdentifierExtension;
  readonly #authorityKeyIdDer: Uint8Array;
  /** The issuer Name of everything this CA signs (its own subject), DER. */
  readonly #name: Uint8Array;
  /** `privateKey` as node:crypto signs with it. */
  readonly #signingKey: KeyObject;

  /**
   * `signingKey` is passed in rather than made here with `KeyObject.from(privateKey)`: a key loaded
   * from PEM is not extractable, and Node 24+ deprecates `KeyObject.from()` on those (DEP0204).
   */
  private constructor(
    certificate: x509.X509Certificate,
    privateKey: CryptoKey,
    signingKey: KeyObject,
    keyId: string,
  ) {
    this.certificate = certificate;
    this.privateKey = privateKey;
    this.der = new Uint8Array(certificate.rawData);
    this.#authorityKeyId = new x509.AuthorityKeyIdentifierExtension(keyId);
    this.#authorityKeyIdDer = new Uint8Array(this.#authorityKeyId.rawData);
    this.#name = new Uint8Array(certificate.subjectName.toArrayBuffer());
    this.#signingKey = signingKey;
  }

  /** A self-signed root with an extractable key (so the caller can keep it). */
  static async createRoot(params: SubordinateParams): Promise<Authority> {
    const keys = await generateEcKeys();
    const ski = new x509.SubjectKeyIdentifierExtension(await keyIdentifier(keys.publicKey));
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: params.name,
        issuer: params.name,
        notBefore: params.notBefore,
        notAfter: params.notAfter,
        publicKey: keys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [...caExtensions(params.pathLength), ski],
      },
      webcrypto,
    );
    return new Authority(certificate, keys.privateKey, KeyObject.from(keys.privateKey), ski.keyId);
  }

  /** A CA from its PEM certificate and PKCS#8 PEM key (as the state directory keeps them). */
  static async load(certificatePem: string, privateKeyPem: string): Promise<Authority> {
    const certificate = new x509.X509Certificate(certificatePem);
    const privateKey = await privateKeyFromPem(privateKeyPem);
    const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    const keyId =
      ski?.keyId ?? Buffer.from(await certificate.publicKey.getKeyIdentifier(webcrypto)).toString('hex');
    return new Authority(certificate, privateKey, createPrivateKey(privateKeyPem), keyId);
  }

  /** A CA under this one, with a fresh extractable key. */
  async createSubordinate(params: SubordinateParams): Promise<Authority> {
    const keys = await generateEcKeys();
    const certificate = await this.issue({
      subject: params.name,
      publicKey: keys.publicKey,
      notBefore: params.notBefore,
      notAfter: params.notAfter,
      extensions: caExtensions(params.pathLength),
    });
    const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    return new Authority(certificate, keys.privateKey, KeyObject.from(keys.privateKey), ski?.keyId ?? '');
  }

  /**
   * Signs a certificate built directly from DER parts — the per-device path, some tens of microseconds
   * instead of a generic ASN.1 round trip — with the same layout as `issue`: v3, random positive
   * 16-byte serial, ecdsa-with-SHA256, `extensions` then SKI and AKI.
   */
  issueDer(params: IssueDerParams): IssuedDer {
    const serial = randomSerialBytes();
    const tbs = tbsCertificate({
      serial,
      issuer: this.#name,
      notBefore: params.notBefore,
      notAfter: params.notAfter,
      subject: params.subject,
      spki: params.spki,
      extensions: [
        ...params.extensions,
        subjectKeyIdentifierExtension(spkiKeyIdentifier(params.spki)),
        this.#authorityKeyIdDer,
      ],
    });
    return { der: signCertificate(tbs, this.#signingKey), serialNumber: serial.toString('hex') };
  }

  /** Signs a certificate for `publicKey`; SKI and AKI are appended to `extensions`. */
  async issue(params: IssueParams): Promise<x509.X509Certificate> {
    const ski = new x509.SubjectKeyIdentifierExtension(await keyIdentifier(params.publicKey));
    return x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: params.subject,
        issuer: this.certificate.subjectName,
        notBefore: params.notBefore,
        notAfter: params.notAfter,
        publicKey: params.publicKey,
        signingKey: this.privateKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [...params.extensions, ski, this.#authorityKeyId],
      },
      webcrypto,
    );
  }
}

function caExtensions(pathLength: number): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits, hex. */
async function keyIdentifier(key: x509.PublicKey | CryptoKey): Promise<string> {
  const spki =
    key instanceof x509.PublicKey
      ? new Uint8Array(key.rawData)
      : new Uint8Array(await webcrypto.subtle.exportKey('spki', key));
  const [, bits] = derElements(spki);
  if (!bits) throw new Error('not a SubjectPublicKeyInfo');
  return createHash('sha1').update(derContent(bits).subarray(1)).digest('hex');
}

/** 16 random bytes, high bit clear (a positive INTEGER) and never a leading zero (always 16 bytes). */
function randomSerialBytes(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes;
}

function randomSerial(): string {
  return randomSerialBytes().toString('hex');
}
