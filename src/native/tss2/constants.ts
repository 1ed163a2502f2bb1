/**
 * The TPM 2.0 and tpm2-tss constants this project uses (values from tss2_tpm2_types.h / tss2_esys.h).
 * Only what the key backend needs: a full table would be noise.
 */

/** ESYS_TR values: ESYS's own handles for sessions and hierarchies. */
export const ESYS_TR = {
  NONE: 0xfff,
  PASSWORD: 0x0ff,
  RH_OWNER: 0x101,
  RH_NULL: 0x107,
  RH_LOCKOUT: 0x10a,
  RH_ENDORSEMENT: 0x10b,
} as const;

/** TPM handles of the permanent hierarchies (TPM_RH_*). */
export const TPM2_RH = {
  OWNER: 0x40000001,
  NULL: 0x40000007,
  ENDORSEMENT: 0x4000000b,
} as const;

export const TPM2_ALG = {
  RSA: 0x0001,
  AES: 0x0006,
  SHA256: 0x000b,
  NULL: 0x0010,
  ECDSA: 0x0018,
  ECC: 0x0023,
  CFB: 0x0043,
} as const;

export const TPM2_ECC_NIST_P256 = 0x0003;

/** TPMA_OBJECT bits. */
export const TPMA_OBJECT = {
  FIXED_TPM: 0x00000002,
  FIXED_PARENT: 0x00000010,
  SENSITIVE_DATA_ORIGIN: 0x00000020,
  USER_WITH_AUTH: 0x00000040,
  ADMIN_WITH_POLICY: 0x00000080,
  NO_DA: 0x00000400,
  RESTRICTED: 0x00010000,
  DECRYPT: 0x00020000,
  SIGN_ENCRYPT: 0x00040000,
} as const;

export const TPM2_ST_HASHCHECK = 0x8024;
export const TPM2_SU_CLEAR = 0x0000;
export const TPM2_CAP_TPM_PROPERTIES = 0x00000006;

/** TPM_PT_* property tags read through GetCapability(TPM_PROPERTIES). */
export const TPM2_PT = {
  FAMILY_INDICATOR: 0x100,
  MANUFACTURER: 0x105,
  VENDOR_STRING_1: 0x106,
  VENDOR_STRING_2: 0x107,
  VENDOR_STRING_3: 0x108,
  VENDOR_STRING_4: 0x109,
  FIRMWARE_VERSION_1: 0x10b,
  FIRMWARE_VERSION_2: 0x10c,
  PERMANENT: 0x200,
  LOCKOUT_COUNTER: 0x20e,
  MAX_AUTH_FAIL: 0x20f,
  LOCKOUT_INTERVAL: 0x210,
  LOCKOUT_RECOVERY: 0x211,
} as const;

/** TPMA_PERMANENT.inLockout: the TPM refuses DA-protected authorizations. */
export const TPMA_PERMANENT_IN_LOCKOUT = 0x00000200;

/** TPM response codes the key backend reacts to (format zero, format one base, warnings). */
export const TPM2_RC = {
  SUCCESS: 0x000,
  INITIALIZE: 0x100,
  FAILURE: 0x101,
  NV_DEFINED: 0x14c,
  HANDLE: 0x08b,
  AUTH_FAIL: 0x08e,
  BAD_AUTH: 0x0a2,
  POLICY_FAIL: 0x09d,
  REFERENCE_H0: 0x910,
  LOCKOUT: 0x921,
} as const;
