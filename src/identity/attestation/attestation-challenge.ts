import { DER_TAG, derOctetString, derSequence, strictChildren, strictSingle } from '../../pki/index.js';

/**
 * The nonce round trip of attested enrolment, an EST extension operation:
 * POST /.well-known/est/[label/]attest-challenge, Content-Type application/octet-stream,
 * base64 body (as every EST body) of ChallengeRequest ::= SEQUENCE { ekCertificate OCTET STRING,
 * akPublic OCTET STRING (TPM2B_PUBLIC) }; answer 200 with ChallengeAnswer ::= SEQUENCE { challengeId
 * OCTET STRING, credentialBlob OCTET STRING (TPM2B_ID_OBJECT), secret OCTET STRING
 * (TPM2B_ENCRYPTED_SECRET) }.
 *
 * The server's nonce is never sent in clear: it is the credential of TPM2_MakeCredential, encrypted
 * to the EK of the certificate and bound to the AK's name. Only the TPM that holds that EK *and* an
 * AK with that name recovers it (TPM2_ActivateCredential), so a quote and a certify carrying the
 * nonce prove at once that they are fresh and that the AK lives with the certified EK. The server
 * keeps each challenge for a short time and accepts it once.
 */

export const ATTEST_CHALLENGE_OPERATION = 'attest-challenge';

export interface ChallengeRequest {
  ekCertificate: Uint8Array;
  akPublic: Uint8Array;
}

export interface ChallengeAnswer {
  challengeId: Uint8Array;
  credentialBlob: Uint8Array;
  secret: Uint8Array;
}

export function encodeChallengeRequest(request: ChallengeRequest): Uint8Array {
  return derSequence(derOctetString(request.ekCertificate), derOctetString(request.akPublic));
}

export function decodeChallengeRequest(der: Uint8Array): ChallengeRequest {
  const [ekCertificate, akPublic] = octetStrings(der, 2, 'ChallengeRequest');
  return { ekCertificate: ekCertificate as Uint8Array, akPublic: akPublic as Uint8Array };
}

export function encodeChallengeAnswer(answer: ChallengeAnswer): Uint8Array {
  return derSequence(
    derOctetString(answer.challengeId),
    derOctetString(answer.credentialBlob),
    derOctetString(answer.secret),
  );
}

export function decodeChallengeAnswer(der: Uint8Array): ChallengeAnswer {
  const [challengeId, credentialBlob, secret] = octetStrings(der, 3, 'ChallengeAnswer');
  return {
    challengeId: challengeId as Uint8Array,
    credentialBlob: credentialBlob as Uint8Array,
    secret: secret as Uint8Array,
  };
}

function octetStrings(der: Uint8Array, count: number, what: string): Uint8Array[] {
  const parts = strictChildren(strictSingle(der, DER_TAG.sequence).value);
  if (parts.length !== count || parts.some((part) => part.tag !== DER_TAG.octetString)) {
    throw new Error(`${what} is not a SEQUENCE of ${count} OCTET STRINGs`);
  }
  return parts.map((part) => new Uint8Array(part.value));
}
