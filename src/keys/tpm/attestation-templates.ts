import { TPMA_OBJECT as A, encodeEccPublic, TPM2_ALG, TPM2_ECC_NIST_P256 } from '../../native/tss2/index.js';

/**
 * The two endorsement-hierarchy objects of attestation, as TPM2B_PUBLIC wire bytes. Both are
 * primaries: a deterministic function of the endorsement seed and the template, so they are
 * recreated identically whenever needed and never take a persistent handle.
 */

/** PolicySecret(TPM_RH_ENDORSEMENT): the authPolicy of the TCG default EK templates. */
const EK_POLICY = Buffer.from('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa', 'hex');

/**
 * The attestation key (AK): ECDSA P-256/SHA-256, restricted signing (it signs only what the TPM
 * itself produced: TPM2_Certify and TPM2_Quote structures, never an outside digest that could
 * pose as one), non-duplicable. Its name is stable per TPM, so the verifier's credential challenge
 * for it is answered by this same key on the next run.
 */
export const AK_TEMPLATE: Uint8Array = encodeEccPublic({
  attributes:
    A.FIXED_TPM | A.FIXED_PARENT | A.SENSITIVE_DATA_ORIGIN | A.USER_WITH_AUTH | A.RESTRICTED | A.SIGN_ENCRYPT,
  symmetric: null,
  scheme: { scheme: TPM2_ALG.ECDSA, hash: TPM2_ALG.SHA256 },
  curve: TPM2_ECC_NIST_P256,
  x: new Uint8Array(32),
  y: new Uint8Array(32),
});

/**
 * The TCG default RSA 2048 endorsement key (EK Credential Profile, template L-1): the key of the EK
 * certificate at NV index 0x01C00002, which every TPM vendor (and swtpm_setup --create-ek-cert)
 * provides. Written out byte by byte: encodeEccPublic covers ECC only.
 */
export const RSA_EK_TEMPLATE: Uint8Array = (() => {
  const area = Buffer.alloc(2 + 2 + 4 + 2 + 32 + 6 + 2 + 2 + 4 + 2 + 256);
  let o = 0;
  o = area.writeUInt16BE(TPM2_ALG.RSA, o);
  o = area.writeUInt16BE(TPM2_ALG.SHA256, o);
  o = area.writeUInt32BE(
    A.FIXED_TPM | A.FIXED_PARENT | A.SENSITIVE_DATA_ORIGIN | A.ADMIN_WITH_POLICY | A.RESTRICTED | A.DECRYPT,
    o,
  );
  o = area.writeUInt16BE(EK_POLICY.length, o);
  o += EK_POLICY.copy(area, o);
  o = area.writeUInt16BE(TPM2_ALG.AES, o);
  o = area.writeUInt16BE(128, o);
  o = area.writeUInt16BE(TPM2_ALG.CFB, o);
  o = area.writeUInt16BE(TPM2_ALG.NULL, o); // scheme
  o = area.writeUInt16BE(2048, o); // keyBits
  o = area.writeUInt32BE(0, o); // exponent: default 65537
  area.writeUInt16BE(256, o); // unique: 256 zero bytes
  const wire = Buffer.alloc(2 + area.length);
  wire.writeUInt16BE(area.length, 0);
  area.copy(wire, 2);
  return new Uint8Array(wire);
})();

/** NV index of the RSA 2048 EK certificate (TCG EK Credential Profile). */
export const RSA_EK_CERTIFICATE_NV_INDEX = 0x01c00002;
