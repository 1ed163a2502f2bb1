import { createPublicKey, type JsonWebKey, type KeyObject, verify, webcrypto } from 'node:crypto';
import {
  derContent,
  derElements,
  derOid,
  sameBytes,
  strictChildren,
  strictSingle,
  TAG,
} from '../../src/pki/der.js';
import * as x509 from '../../src/pki/x509.js';
import { type CsrDer, readCsrDer } from './csr-der.js';
import { CsrRejectedError } from './csr-rejected-error.js';
import { nameText } from './name-text.js';

const OID_COMMON_NAME = '2.5.4.3';

/** What the CA copies from a verified request into the certificate, as the request encodes it. */
export interface CsrContent {
  /** The subject Name, DER. */
  subject: Uint8Array;
  /** SubjectPublicKeyInfo, DER. */
  spki: Uint8Array;
  /** Requested extensions (complete Extension encodings) by OID; the first of each OID. */
  extensions: ReadonlyMap<string, Uint8Array>;
}

/**
 * A PKCS#10 request that parsed, whose signature proves possession of its key, and whose subject has
 * a CN (the device profile names the certificate after it). Only `read` makes one, so holding a
 * VerifiedCsr means the checks were done once — the server checks before deciding (pending,
 * re-enrolment subject) and the CA signs without verifying again.
 *
 * Strict DER with the usual signature algorithms (ECDSA or RSA PKCS#1 v1.5 with SHA-2) is split and
 * verified natively (tens of microseconds); anything else goes through @peculiar/x509 and gets the
 * same checks and answers. `request` (the @peculiar/x509 view) is parsed on first use only.
 */
export class VerifiedCsr {
  /** The request as received, DER. */
  readonly der: Uint8Array;
  readonly content: CsrContent;
  #request: x509.Pkcs10CertificateRequest | undefined;
  #subject: string | undefined;

  private constructor(der: Uint8Array, content: CsrContent, request?: x509.Pkcs10CertificateRequest) {
    this.der = der;
    this.content = content;
    this.#request = request;
  }

  /** Parses and checks a DER CSR; anything wrong is a CsrRejectedError (→ 400). */
  static async read(der: Uint8Array): Promise<VerifiedCsr> {
    if (der.length === 0) throw new CsrRejectedError('EGW_EST_CSR_MALFORMED', 'the CSR is empty');
    let parts: CsrDer;
    try {
      parts = readCsrDer(der);
    } catch {
      // Not in the strict subset (NotStrictDerError, or anything unexpected): the generic path
      // decides, with its own answers for what is malformed.
      return VerifiedCsr.#readGeneric(der);
    }
    let verified: boolean;
    try {
      const key = publicKey(parts.spki);
      verified = verify(parts.signatureHash, parts.info, key, parts.signature);
    } catch (cause) {
      throw cannotCheck(cause);
    }
    if (!verified) throw doesNotVerify();
    const content = { subject: parts.subject, spki: parts.spki, extensions: parts.extensions };
    const csr = new VerifiedCsr(der, content);
    if (!parts.hasCommonName) throw noCommonName(csr.subject);
    return csr;
  }

  /** The @peculiar/x509 path, for whatever the strict reader leaves alone. */
  static async #readGeneric(der: Uint8Array): Promise<VerifiedCsr> {
    let request: x509.Pkcs10CertificateRequest;
    try {
      request = new x509.Pkcs10CertificateRequest(der);
    } catch (cause) {
      throw new CsrRejectedError(
        'EGW_EST_CSR_MALFORMED',
        'the body is not a DER PKCS#10 certificate request',
        {
          hint: 'send base64 of the DER CSR (not PEM) with Content-Type application/pkcs10',
          cause,
        },
      );
    }
    let verified: boolean;
    try {
      verified = await verifySignature(der, request);
    } catch (cause) {
      throw cannotCheck(cause);
    }
    if (!verified) throw doesNotVerify();
    if (request.subjectName.getField(OID_COMMON_NAME).length === 0) throw noCommonName(request.subject);
    // Copied into the certificate as @peculiar/x509 re-encodes them (DER, whatever the CSR held).
    const extensions = new Map<string, Uint8Array>();
    for (const extension of request.extensions) {
      if (!extensions.has(extension.type)) extensions.set(extension.type, new Uint8Array(extension.rawData));
    }
    const content = {
      subject: new Uint8Array(request.subjectName.toArrayBuffer()),
      spki: new Uint8Array(request.publicKey.rawData),
      extensions,
    };
    return new VerifiedCsr(der, content, request);
  }

  /** The request as @peculiar/x509 reads it (parsed on first use). */
  get request(): x509.Pkcs10CertificateRequest {
    this.#request ??= new x509.Pkcs10CertificateRequest(this.der);
    return this.#request;
  }

  /** The subject as @peculiar/x509 prints it (e.g. "CN=device-ABC, 2.5.4.5=ABC"). */
  get subject(): string {
    this.#subject ??= this.#request ? this.#request.subject : nameText(this.content.subject);
    return this.#subject;
  }
}

const OID_EC_PUBLIC_KEY = derOid('1.2.840.10045.2.1');
/** Named curves by their OID's encoding: JWK name and coordinate length. */
const CURVES = [
  { oid: derOid('1.2.840.10045.3.1.7'), crv: 'P-256', size: 32 },
  { oid: derOid('1.3.132.0.34'), crv: 'P-384', size: 48 },
  { oid: derOid('1.3.132.0.35'), crv: 'P-521', size: 66 },
];

/**
 * The key of a SubjectPublicKeyInfo. An uncompressed point on a NIST curve is imported as a JWK, about
 * twice as fast as OpenSSL 3.0's generic DER decoder (both check that the point is on the curve);
 * everything else, and any key the JWK import refuses (so the error is OpenSSL's usual one), as DER.
 */
function publicKey(spki: Uint8Array): KeyObject {
  const jwk = ecJwk(spki);
  if (jwk) {
    try {
      return createPublicKey({ key: jwk, format: 'jwk' });
    } catch {
      // fall through to DER
    }
  }
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

function ecJwk(spki: Uint8Array): JsonWebKey | undefined {
  const [algorithm, bits] = strictChildren(strictSingle(spki, TAG.sequence).value);
  if (!algorithm || !bits) return undefined;
  const [type, parameters, ...rest] = strictChildren(algorithm.value);
  if (!type || !parameters || rest.length > 0 || !sameBytes(type.tlv, OID_EC_PUBLIC_KEY)) return undefined;
  const curve = CURVES.find((entry) => sameBytes(entry.oid, parameters.tlv));
  // BIT STRING: 0 unused bits, then 0x04 ‖ x ‖ y.
  const point = bits.value;
  if (!curve || point.length !== 2 + 2 * curve.size || point[0] !== 0 || point[1] !== 0x04) return undefined;
  const coordinate = (from: number) =>
    Buffer.from(point.buffer, point.byteOffset + from, curve.size).toString('base64url');
  return { kty: 'EC', crv: curve.crv, x: coordinate(2), y: coordinate(2 + curve.size) };
}

function cannotCheck(cause: unknown): CsrRejectedError {
  return new CsrRejectedError(
    'EGW_EST_CSR_SIGNATURE',
    `the CSR signature cannot be checked (${(cause as Error).message})`,
    { hint: 'sign the CSR with ECDSA P-256 and SHA-256 (see /csrattrs)', cause },
  );
}

function doesNotVerify(): CsrRejectedError {
  return new CsrRejectedError(
    'EGW_EST_CSR_SIGNATURE',
    'the CSR signature does not verify with its public key',
    {
      hint: 'the CSR must be signed by the private key whose public key it carries',
    },
  );
}

function noCommonName(subject: string): CsrRejectedError {
  return new CsrRejectedError(
    'EGW_EST_CSR_PROFILE',
    `the CSR subject has no CN (subject: ${subject || 'empty'})`,
    {
      hint: 'the device profile needs CN=device-<serial> and serialNumber=<serial> in the subject',
    },
  );
}

/**
 * The CSR's self-signature, checked natively for the usual algorithms (ECDSA or RSA PKCS#1 v1.5 with
 * SHA-2: microseconds) and by @peculiar/x509 for anything else.
 */
async function verifySignature(der: Uint8Array, request: x509.Pkcs10CertificateRequest): Promise<boolean> {
  const algorithm = request.signatureAlgorithm as { name: string; hash?: { name?: string } };
  const hash = algorithm.hash?.name ?? '';
  if (!['ECDSA', 'RSASSA-PKCS1-v1_5'].includes(algorithm.name) || !/^SHA-(256|384|512)$/.test(hash)) {
    return request.verify(webcrypto);
  }
  const [info, , signatureBits] = derElements(der);
  if (!info || !signatureBits) throw new Error('a CSR has three parts');
  const key = createPublicKey({ key: Buffer.from(request.publicKey.rawData), format: 'der', type: 'spki' });
  // BIT STRING: the first value octet counts unused bits (0), then the DER signature.
  return verify(hash.replace('-', '').toLowerCase(), info, key, derContent(signatureBits).subarray(1));
}
