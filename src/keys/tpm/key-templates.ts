import { TPMA_OBJECT as A, encodeEccPublic, TPM2_ALG, TPM2_ECC_NIST_P256 } from '../../native/tss2/index.js';

/**
 * The public templates of the three objects the TPM backend creates, as TPM2B_PUBLIC wire bytes.
 */

const AES_128_CFB = { algorithm: TPM2_ALG.AES, keyBits: 128, mode: TPM2_ALG.CFB };
const ZERO_32 = new Uint8Array(32);

/**
 * The storage primary key (TCG "Provisioning Guidance" ECC P-256 SRK template): a restricted
 * decryption key in the owner hierarchy, the parent of the identity key. Derived from the owner
 * seed, so the same template yields the same key after every boot: it stays transient and is
 * recreated whenever a key must be created under it.
 */
export const STORAGE_PRIMARY_TEMPLATE: Uint8Array = encodeEccPublic({
  attributes:
    A.FIXED_TPM |
    A.FIXED_PARENT |
    A.SENSITIVE_DATA_ORIGIN |
    A.USER_WITH_AUTH |
    A.NO_DA |
    A.RESTRICTED |
    A.DECRYPT,
  symmetric: AES_128_CFB,
  scheme: null,
  curve: TPM2_ECC_NIST_P256,
  x: ZERO_32,
  y: ZERO_32,
});

/**
 * The gateway's identity key: ECDSA P-256 with SHA-256, non-duplicable (fixedTPM, fixedParent), its
 * private part generated inside the TPM from its RNG (sensitiveDataOrigin, created with TPM2_Create,
 * never as a primary, which would be a deterministic function of the owner seed), usable with its
 * auth value (userWithAuth): the service's 32-byte random secret (tpm-key-auth.ts). Not restricted,
 * so it can sign digests computed outside the TPM.
 *
 * noDA: a 256-bit random secret cannot be guessed, so dictionary-attack protection adds nothing,
 * while counting failures would let any local process (or a wrong secret file, on every handshake)
 * push the whole TPM into lockout. It also tells our keys apart from those created before the key
 * had an auth value (no noDA, empty auth): see IDENTITY_KEY_HAS_AUTH.
 */
export const IDENTITY_KEY_TEMPLATE: Uint8Array = encodeEccPublic({
  attributes:
    A.FIXED_TPM | A.FIXED_PARENT | A.SENSITIVE_DATA_ORIGIN | A.USER_WITH_AUTH | A.NO_DA | A.SIGN_ENCRYPT,
  symmetric: null,
  scheme: { scheme: TPM2_ALG.ECDSA, hash: TPM2_ALG.SHA256 },
  curve: TPM2_ECC_NIST_P256,
});

/**
 * The identity key under a PCR policy (tpm-key-policy.ts): the same key, but usable only through
 * `authPolicy` (PolicyPCR ∧ PolicyAuthValue), never with the auth value alone (no userWithAuth).
 */
export function identityKeyTemplateWithPolicy(authPolicy: Uint8Array): Uint8Array {
  return encodeEccPublic({
    attributes: A.FIXED_TPM | A.FIXED_PARENT | A.SENSITIVE_DATA_ORIGIN | A.NO_DA | A.SIGN_ENCRYPT,
    authPolicy,
    symmetric: null,
    scheme: { scheme: TPM2_ALG.ECDSA, hash: TPM2_ALG.SHA256 },
    curve: TPM2_ECC_NIST_P256,
  });
}

/** The attribute that marks an identity key made with an auth value (older keys lack it). */
export const IDENTITY_KEY_HAS_AUTH = A.NO_DA;

/** PolicySecret(TPM_RH_ENDORSEMENT): the authPolicy of the TCG default EK templates. */
const EK_POLICY = Buffer.from('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa', 'hex');

/**
 * The TCG default ECC P-256 endorsement key (EK Credential Profile, template L-2). The EK is a
 * deterministic function of the TPM's endorsement seed, unique per TPM and unchanged by
 * TPM2_Clear, and the key the manufacturer's EK certificate certifies: its public point is the
 * TPM's stable serial number.
 */
export const EK_TEMPLATE: Uint8Array = encodeEccPublic({
  attributes:
    A.FIXED_TPM | A.FIXED_PARENT | A.SENSITIVE_DATA_ORIGIN | A.ADMIN_WITH_POLICY | A.RESTRICTED | A.DECRYPT,
  authPolicy: EK_POLICY,
  symmetric: AES_128_CFB,
  scheme: null,
  curve: TPM2_ECC_NIST_P256,
  x: ZERO_32,
  y: ZERO_32,
});
