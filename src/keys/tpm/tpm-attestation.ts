import { ESYS_TR, EsysAttestation, type EsysContext } from '../../native/tss2/index.js';
import type { AttestationIdentity, AttestationRequest, TpmEvidence } from '../attestation.js';
import { AK_TEMPLATE, RSA_EK_CERTIFICATE_NV_INDEX, RSA_EK_TEMPLATE } from './attestation-templates.js';
import { encodePcrSelection, parsePcrSelection } from './pcr-selection.js';

/**
 * The TPM side of attestation at enrolment (see ../attestation.ts for the two steps). The AK and the
 * EK are endorsement-hierarchy primaries, recreated from their templates for each step and flushed
 * right after: nothing is persisted, and the AK's name is the same every time.
 *
 * `identityKey` is the ESYS_TR of the identity key, with its authValue already given to ESYS.
 */
export function tpmAttest(
  esys: EsysContext,
  identityKey: number,
  request: AttestationRequest,
): AttestationIdentity | TpmEvidence {
  const tpm = new EsysAttestation(esys);
  if (request.step === 'identify') {
    const ekCertificate = tpm.readNv(RSA_EK_CERTIFICATE_NV_INDEX);
    const ak = esys.createPrimary(ESYS_TR.RH_ENDORSEMENT, AK_TEMPLATE);
    esys.flush(ak.object);
    return { ekCertificate, akPublic: ak.public };
  }
  const selection = encodePcrSelection(parsePcrSelection(request.pcrSelection));
  const ak = esys.createPrimary(ESYS_TR.RH_ENDORSEMENT, AK_TEMPLATE);
  try {
    const ek = esys.createPrimary(ESYS_TR.RH_ENDORSEMENT, RSA_EK_TEMPLATE);
    let nonce: Uint8Array;
    try {
      nonce = tpm.activateCredential(ak.object, ek.object, request.credentialBlob, request.secret);
    } finally {
      esys.flush(ek.object);
    }
    const certify = tpm.certify(identityKey, ak.object, nonce);
    const quote = tpm.quote(ak.object, nonce, selection);
    return {
      keyPublic: esys.readPublic(identityKey),
      certifyInfo: certify.attest,
      certifySignature: certify.signature,
      quoteInfo: quote.attest,
      quoteSignature: quote.signature,
    };
  } finally {
    esys.flush(ak.object);
  }
}
