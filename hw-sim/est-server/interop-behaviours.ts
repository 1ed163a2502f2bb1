import * as x509 from '../../src/pki/x509.js';
import { encodeBase64Body } from './base64-body.js';
import type { EstServerOptions } from './est-server-options.js';

/**
 * How an independent, widely deployed open-source EST server answers out of the box, each behaviour
 * small and named so a test can switch on one at a time (see EstServerOptions):
 *   csrattrsTrailingNul      /csrattrs is valid base64 followed by one NUL (`sizeof` of a C string)
 *   wrapBase64               base64 in 64-column lines with CRLF
 *   contentTransferEncoding  false: no Content-Transfer-Encoding header (HTTP is binary-clean)
 *   pkcs7ContentType         the PKCS#7 Content-Type as that server spells it (parameters, case)
 *   enrollResponse 'leaf'    /simpleenroll answers the new certificate alone
 *   cacerts 'root'           /cacerts holds only the root
 *   issueFromRoot            a one-level CA: the root signs device certificates (with the two above,
 *                            the chain is complete; with an issuing CA it could not be)
 *   maxTlsVersion 'TLSv1.2'  TLS 1.2 only
 *   basicAuth                HTTP Basic in addition to the client certificate
 *   bareCertificates         issued certificates without extendedKeyUsage and subjectAltName
 */
export function independentEstServer(
  basicAuth: { username: string; password: string } = { username: 'estuser', password: 'estpwd' },
): Partial<EstServerOptions> {
  return {
    csrattrsTrailingNul: true,
    wrapBase64: true,
    contentTransferEncoding: false,
    pkcs7ContentType: 'application/pkcs7-mime',
    enrollResponse: 'leaf',
    cacerts: 'root',
    issueFromRoot: true,
    maxTlsVersion: 'TLSv1.2',
    basicAuth,
    bareCertificates: true,
  };
}

/** The headers and body of a 200 answer carrying `der`, in the form the options ask for. */
export function base64BodyAnswer(
  der: Uint8Array,
  contentType: string,
  options: EstServerOptions,
  /** The EST operation answered (only csrattrs differs). */
  operation: string,
): { headers: Record<string, string>; body: Buffer } {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (options.contentTransferEncoding ?? true) headers['content-transfer-encoding'] = 'base64';
  let body = encodeBase64Body(der, options.wrapBase64 ?? false);
  if (operation === 'csrattrs' && options.csrattrsTrailingNul) body = Buffer.concat([body, Buffer.of(0)]);
  return { headers, body };
}

const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_EXTENDED_KEY_USAGE = '2.5.29.37';

/** The device profile's extensions without extendedKeyUsage and subjectAltName (bareCertificates). */
export function withoutEkuAndSan(extensions: Uint8Array[]): Uint8Array[] {
  return extensions.filter((der) => {
    const type = new x509.Extension(der).type;
    return type !== OID_SUBJECT_ALT_NAME && type !== OID_EXTENDED_KEY_USAGE;
  });
}
