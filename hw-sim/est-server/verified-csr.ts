import { createPublicKey, verify, webcrypto } from 'node:crypto';
import * as x509 from '../../src/pki/x509.js';
import { CsrRejectedError } from './csr-rejected-error.js';
import { derContent, derElements } from './der.js';

const OID_COMMON_NAME = '2.5.4.3';

/**
 * A PKCS#10 request that parsed, whose signature proves possession of its key, and whose subject has
 * a CN (the device profile names the certificate after it). Only `read` makes one, so holding a
 * VerifiedCsr means the checks were done once — the server checks before deciding (pending,
 * re-enrolment subject) and the CA signs without verifying again.
 */
export class VerifiedCsr {
  readonly request: x509.Pkcs10CertificateRequest;

  private constructor(request: x509.Pkcs10CertificateRequest) {
    this.request = request;
  }

  /** Parses and checks a DER CSR; anything wrong is a CsrRejectedError (→ 400). */
  static async read(der: Uint8Array): Promise<VerifiedCsr> {
    if (der.length === 0) throw new CsrRejectedError('EGW_EST_CSR_MALFORMED', 'the CSR is empty');
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
      throw new CsrRejectedError(
        'EGW_EST_CSR_SIGNATURE',
        `the CSR signature cannot be checked (${(cause as Error).message})`,
        { hint: 'sign the CSR with ECDSA P-256 and SHA-256 (see /csrattrs)', cause },
      );
    }
    if (!verified) {
      throw new CsrRejectedError(
        'EGW_EST_CSR_SIGNATURE',
        'the CSR signature does not verify with its public key',
        {
          hint: 'the CSR must be signed by the private key whose public key it carries',
        },
      );
    }
    if (request.subjectName.getField(OID_COMMON_NAME).length === 0) {
      throw new CsrRejectedError(
        'EGW_EST_CSR_PROFILE',
        `the CSR subject has no CN (subject: ${request.subject || 'empty'})`,
        { hint: 'the device profile needs CN=device-<serial> and serialNumber=<serial> in the subject' },
      );
    }
    return new VerifiedCsr(request);
  }

  get subject(): string {
    return this.request.subject;
  }
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
