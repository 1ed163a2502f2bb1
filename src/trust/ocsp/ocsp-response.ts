import { DER_TAG, type DerTlv, NotStrictDerError, strictChildren } from '../../pki/index.js';
import { CertificateFacts, type SignatureAlgorithm } from '../validation/index.js';
import {
  expectTag,
  explicitInner,
  generalizedTime,
  malformed,
  octetAlignedBits,
  oidOf,
  single,
  smallEnumerated,
} from './ocsp-der.js';
import { readOcspExtensions } from './ocsp-extensions.js';
import { OcspResponseError } from './ocsp-response-error.js';
import { OCSP_OID } from './oids.js';
import { type ResponderId, readResponderId } from './responder-id.js';
import { readSignatureAlgorithm } from './signature-algorithms.js';
import { readSingleResponse, type SingleResponse } from './single-response.js';

/** OCSPResponseStatus (RFC 6960 §4.2.1), by value; 4 is unused. */
const RESPONSE_STATUS = [
  'successful',
  'malformedRequest',
  'internalError',
  'tryLater',
  undefined,
  'sigRequired',
  'unauthorized',
] as const;

/** A response a verified answer can be larger than only by its certificates: a few KB in practice. */
export const MAX_OCSP_RESPONSE_BYTES = 64 * 1024;

const RESPONSE_EXTENSIONS: ReadonlySet<string> = new Set([OCSP_OID.nonce]);

/**
 * A successful OCSPResponse carrying a BasicOCSPResponse (RFC 6960 §4.2.1), parsed strictly and not
 * yet trusted: `verifyOcspResponse` judges its signer, CertID, nonce and times.
 */
export class OcspResponse {
  readonly der: Uint8Array;
  /** ResponseData, verbatim: what the signature covers. */
  readonly tbsResponseData: Uint8Array;
  readonly responderId: ResponderId;
  readonly producedAt: Date;
  readonly responses: readonly SingleResponse[];
  /** The nonce echoed in the response extensions (the OCTET STRING's value), if any. */
  readonly nonce: Uint8Array | undefined;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  /** Certificates the responder included (a delegated responder's, possibly the CA's). */
  readonly certs: readonly CertificateFacts[];

  private constructor(der: Uint8Array) {
    this.der = der;
    const top = strictChildren(single(der, DER_TAG.sequence, 'OCSPResponse').value);
    const [statusField, bytesField, extra] = top;
    const status = smallEnumerated(statusField, 'responseStatus');
    const statusName = RESPONSE_STATUS[status];
    if (statusName === undefined) throw malformed(`responseStatus ${status} is not an OCSPResponseStatus`);
    if (statusName !== 'successful') {
      if (bytesField !== undefined) throw malformed(`a ${statusName} response carries responseBytes`);
      throw new OcspResponseError('response-status', `the responder answered ${statusName} (${status})`);
    }
    if (extra !== undefined) throw malformed('OCSPResponse has trailing elements');
    const responseBytes = explicitInner(
      expectTag(bytesField, 0xa0, 'responseBytes'),
      DER_TAG.sequence,
      'responseBytes',
    );
    const [typeField, responseField, more] = strictChildren(responseBytes.value);
    if (more !== undefined) throw malformed('responseBytes has trailing elements');
    const responseType = oidOf(typeField, 'responseType');
    if (responseType !== OCSP_OID.basicResponse) {
      throw new OcspResponseError('unsupported', `responseType ${responseType} is not id-pkix-ocsp-basic`);
    }
    const basic = expectTag(responseField, DER_TAG.octetString, 'response').value;

    // BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature BIT STRING, certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
    const [tbs, algorithm, signature, certsField, trailing] = strictChildren(
      single(basic, DER_TAG.sequence, 'BasicOCSPResponse').value,
    );
    if (trailing !== undefined) throw malformed('BasicOCSPResponse has trailing elements');
    this.tbsResponseData = expectTag(tbs, DER_TAG.sequence, 'tbsResponseData').tlv;
    this.signatureAlgorithm = readSignatureAlgorithm(algorithm, 'signatureAlgorithm');
    this.signature = octetAlignedBits(signature, 'signature');
    this.certs = certsField === undefined ? [] : readCerts(certsField);

    // ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, responderID, producedAt, responses, responseExtensions [1] EXPLICIT OPTIONAL }
    const fields = strictChildren((tbs as DerTlv).value);
    if (fields[0]?.tag === 0xa0) {
      // v1 is the only version and the DEFAULT: DER never encodes it.
      throw malformed('tbsResponseData has an explicit version (only the DEFAULT v1 exists)');
    }
    const [responderField, producedField, responsesField, extensionsField, after] = fields;
    this.responderId = readResponderId(responderField, 'responderID');
    this.producedAt = generalizedTime(producedField, 'producedAt');
    const responses = strictChildren(expectTag(responsesField, DER_TAG.sequence, 'responses').value);
    if (responses.length === 0) throw malformed('responses is empty');
    this.responses = responses.map((response, index) => readSingleResponse(response, `responses[${index}]`));
    if (after !== undefined) throw malformed('tbsResponseData has trailing elements');
    let nonce: Uint8Array | undefined;
    if (extensionsField !== undefined) {
      const extensions = readOcspExtensions(
        expectTag(extensionsField, 0xa1, 'responseExtensions'),
        'responseExtensions',
        RESPONSE_EXTENSIONS,
      );
      const nonceValue = extensions.find((extension) => extension.oid === OCSP_OID.nonce)?.value;
      // RFC 8954 §2.1: the extension's value is the DER of Nonce ::= OCTET STRING.
      if (nonceValue !== undefined) nonce = single(nonceValue, DER_TAG.octetString, 'nonce').value;
    }
    this.nonce = nonce;
    Object.freeze(this);
  }

  /**
   * Parses `der` (copied). Throws OcspResponseError: 'response-status' when the responder answered
   * anything but successful, 'unsupported' for a response type other than basic, 'malformed' else.
   */
  static parse(der: Uint8Array): OcspResponse {
    if (der.length > MAX_OCSP_RESPONSE_BYTES) {
      throw malformed(`${der.length} bytes, at most ${MAX_OCSP_RESPONSE_BYTES} are accepted`);
    }
    try {
      return new OcspResponse(new Uint8Array(der));
    } catch (error) {
      if (error instanceof OcspResponseError) throw error;
      if (error instanceof NotStrictDerError) throw malformed(`not strict DER: ${error.message}`, error);
      throw malformed(`unreadable: ${(error as Error).message}`, error);
    }
  }
}

/** certs [0] EXPLICIT SEQUENCE OF Certificate, each parsed as path validation parses certificates. */
function readCerts(wrapper: DerTlv): CertificateFacts[] {
  const list = explicitInner(expectTag(wrapper, 0xa0, 'certs'), DER_TAG.sequence, 'certs');
  return strictChildren(list.value).map((certificate, index) => {
    try {
      return CertificateFacts.parse(certificate.tlv);
    } catch (error) {
      throw malformed(`certs[${index}]: ${(error as Error).message}`, error);
    }
  });
}
