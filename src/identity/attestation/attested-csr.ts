import type { AttestationIdentity, KeyStore, TpmEvidence } from '../../keys/index.js';
import { X509Attribute } from '../../pki/index.js';
import type { EstClient } from '../est/index.js';
import {
  ATTEST_CHALLENGE_OPERATION,
  decodeChallengeAnswer,
  encodeChallengeRequest,
} from './attestation-challenge.js';
import { encodeEvidenceBundles, OID_EVIDENCE_ATTRIBUTE } from './evidence-attribute.js';

/**
 * The evidence attribute for the CSR of `keys` (identity.attestation = "tpm"): the TPM's EK
 * certificate and AK go to the EST server's attest-challenge, whose answer only this TPM can open;
 * the opened nonce then qualifies TPM2_Certify of the identity key and TPM2_Quote of `pcrSelection`.
 * Done right before the CSR is built, so the nonce is minutes old at most when the server sees it.
 */
export async function attestationAttribute(
  keys: KeyStore,
  client: EstClient,
  pcrSelection: string,
): Promise<X509Attribute> {
  if (!keys.attest) {
    throw new Error(
      `the ${keys.info.backend} key backend gives no attestation (identity.attestation needs "tpm")`,
    );
  }
  const identity = (await keys.attest({ step: 'identify' })) as AttestationIdentity;
  const challenge = decodeChallengeAnswer(
    await client.postDer(ATTEST_CHALLENGE_OPERATION, encodeChallengeRequest(identity)),
  );
  const evidence = (await keys.attest({
    step: 'evidence',
    credentialBlob: challenge.credentialBlob,
    secret: challenge.secret,
    pcrSelection,
  })) as TpmEvidence;
  const bundles = encodeEvidenceBundles({
    ...evidence,
    challengeId: challenge.challengeId,
    akPublic: identity.akPublic,
    ekCertificate: identity.ekCertificate,
  });
  return new X509Attribute(OID_EVIDENCE_ATTRIBUTE, [bundles.slice().buffer]);
}
