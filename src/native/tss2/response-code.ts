/**
 * Decodes TSS2_RC values (tpm2-tss return codes) into text an operator can act on.
 *
 * A TSS2_RC carries the layer that produced it in bits 16–23 (TPM 0, FAPI 6, ESYS 7, SYS 8, MU 9,
 * TCTI 10, resource managers 11 and 12). Software layers put a TSS2_BASE_RC_* in the low 16 bits.
 * TPM codes (TPM 2.0 Part 2, 6.6) are either format zero (bit 7 clear: error or warning, optionally
 * vendor-defined) or format one (bit 7 set: the error names the handle, session or parameter it
 * applies to in bits 8–11).
 *
 * Resource-manager layers are ambiguous in practice: tss2_common.h calls 11 RESMGR and 12
 * RESMGR_TPM, but the Linux kernel's /dev/tpmrm0 sends TPM-format codes in layer 11 (its own
 * TSS2_RESMGR_TPM_RC_LAYER is 11 << 16). So for both, a code with TPM format bits (0x080 or 0x100)
 * is decoded as a TPM code ('RM-TPM'), anything else as a TSS2_BASE_RC ('RM').
 *
 * Pure code with no library behind it, so it works when libtss2 itself is what is missing.
 */

export type RcLayer = 'TPM' | 'FAPI' | 'ESYS' | 'SYS' | 'MU' | 'TCTI' | 'RM' | 'RM-TPM' | 'unknown';

export interface DecodedRc {
  /** The code as an unsigned 32-bit number. */
  rc: number;
  /** `0x0000018B` */
  hex: string;
  layer: RcLayer;
  layerNumber: number;
  /** For TPM-format codes (layers TPM and RM-TPM). */
  format?: 'format-zero' | 'format-one';
  /** Format-zero warning (TPM_RC_WARN set): the command may succeed if retried later. */
  warning?: boolean;
  /** The code with position bits removed: 0x08B for TPM_RC_HANDLE, 10 for TSS2_BASE_RC_IO_ERROR. */
  base: number;
  /** `TPM_RC_HANDLE`, `TSS2_TCTI_RC_IO_ERROR`, or a generic label for unknown codes. */
  name: string;
  description: string;
  /** Format one: the 1-based parameter, handle or session the error applies to. */
  parameter?: number;
  handle?: number;
  session?: number;
  /** One line: name, where, description and the raw code. */
  text: string;
}

const LAYERS: Record<number, RcLayer> = {
  0: 'TPM',
  6: 'FAPI',
  7: 'ESYS',
  8: 'SYS',
  9: 'MU',
  10: 'TCTI',
  11: 'RM',
  12: 'RM',
};

const LAYER_PREFIX: Partial<Record<RcLayer, string>> = {
  FAPI: 'TSS2_FAPI_RC_',
  ESYS: 'TSS2_ESYS_RC_',
  SYS: 'TSS2_SYS_RC_',
  MU: 'TSS2_MU_RC_',
  TCTI: 'TSS2_TCTI_RC_',
  RM: 'TSS2_RESMGR_RC_',
};

const LAYER_LABEL: Record<RcLayer, string> = {
  TPM: 'TPM',
  FAPI: 'FAPI layer',
  ESYS: 'ESYS layer',
  SYS: 'SYS layer',
  MU: 'marshalling layer',
  TCTI: 'TCTI layer',
  RM: 'resource manager',
  'RM-TPM': 'resource manager, TPM-format code',
  unknown: 'unknown layer',
};

/** TSS2_BASE_RC_* (tss2_common.h): shared by every software layer. */
const BASE_CODES: Record<number, [string, string]> = {
  1: ['GENERAL_FAILURE', 'catch-all for errors not otherwise specified'],
  2: ['NOT_IMPLEMENTED', 'called functionality is not implemented'], // marker-ok: tpm2-tss's name for RC 2
  3: ['BAD_CONTEXT', 'a context structure is bad'],
  4: ['ABI_MISMATCH', "the caller's ABI version does not match the library's"],
  5: ['BAD_REFERENCE', 'a pointer is NULL that must not be'],
  6: ['INSUFFICIENT_BUFFER', 'a buffer is not large enough'],
  7: ['BAD_SEQUENCE', 'function called in the wrong order'],
  8: ['NO_CONNECTION', 'cannot connect to the next lower layer'],
  9: ['TRY_AGAIN', 'operation timed out; call again to complete it'],
  10: ['IO_ERROR', 'I/O failure talking to the TPM'],
  11: ['BAD_VALUE', 'a parameter has a bad value'],
  12: ['NOT_PERMITTED', 'operation not permitted'],
  13: ['INVALID_SESSIONS', 'sessions sent that the command does not use'],
  14: ['NO_DECRYPT_PARAM', 'decrypt session used but the command has no encryptable parameter'],
  15: ['NO_ENCRYPT_PARAM', 'encrypt session used but the command has no encryptable parameter'],
  16: ['BAD_SIZE', 'a parameter has an incorrect size'],
  17: ['MALFORMED_RESPONSE', 'the response is malformed'],
  18: ['INSUFFICIENT_CONTEXT', 'context not large enough'],
  19: ['INSUFFICIENT_RESPONSE', 'the response is not long enough'],
  20: ['INCOMPATIBLE_TCTI', 'unknown or unusable TCTI version'],
  21: ['NOT_SUPPORTED', 'functionality not supported'],
  22: ['BAD_TCTI_STRUCTURE', 'the TCTI context is bad'],
  23: ['MEMORY', 'memory allocation failed'],
  24: ['BAD_TR', 'invalid ESYS_TR handle'],
  25: ['MULTIPLE_DECRYPT_SESSIONS', 'more than one session with the decrypt attribute'],
  26: ['MULTIPLE_ENCRYPT_SESSIONS', 'more than one session with the encrypt attribute'],
  27: ['RSP_AUTH_FAILED', 'the response HMAC from the TPM did not verify'],
  28: ['NO_CONFIG', 'no configuration'],
  29: ['BAD_PATH', 'bad path'],
  30: ['NOT_DELETABLE', 'object not deletable'],
  31: ['PATH_ALREADY_EXISTS', 'path already exists'],
  32: ['KEY_NOT_FOUND', 'key not found'],
  33: ['SIGNATURE_VERIFICATION_FAILED', 'signature verification failed'],
  34: ['HASH_MISMATCH', 'hash mismatch'],
  35: ['KEY_NOT_DUPLICABLE', 'key not duplicable'],
  36: ['PATH_NOT_FOUND', 'path not found'],
  37: ['NO_CERT', 'no certificate'],
  38: ['NO_PCR', 'no PCR'],
  39: ['PCR_NOT_RESETTABLE', 'PCR not resettable'],
  40: ['BAD_TEMPLATE', 'bad template'],
  41: ['AUTHORIZATION_FAILED', 'authorization failed'],
  42: ['AUTHORIZATION_UNKNOWN', 'authorization unknown'],
  43: ['NV_NOT_READABLE', 'NV index not readable'],
  44: ['NV_TOO_SMALL', 'NV index too small'],
  45: ['NV_NOT_WRITEABLE', 'NV index not writeable'],
  46: ['POLICY_UNKNOWN', 'policy unknown'],
  47: ['NV_WRONG_TYPE', 'NV index of the wrong type'],
  48: ['NAME_ALREADY_EXISTS', 'name already exists'],
  49: ['NO_TPM', 'no TPM'],
  50: ['BAD_KEY', 'bad key'],
  51: ['NO_HANDLE', 'no handle'],
  52: ['NOT_PROVISIONED', 'not provisioned'],
  53: ['ALREADY_PROVISIONED', 'already provisioned'],
};

/** TPM 2.0 format-zero errors, keyed by the full base code (TPM_RC_VER1 + n). */
const FORMAT_ZERO: Record<number, [string, string]> = {
  256: ['INITIALIZE', 'TPM not initialized by TPM2_Startup or already initialized'],
  257: ['FAILURE', 'commands not being accepted because of a TPM failure'],
  259: ['SEQUENCE', 'improper use of a sequence handle'],
  267: ['PRIVATE', 'not currently used'],
  281: ['HMAC', 'not currently used'],
  288: ['DISABLED', 'the command is disabled'],
  289: ['EXCLUSIVE', 'command failed because audit sequence required exclusivity'],
  292: ['AUTH_TYPE', 'authorization handle is not correct for command'],
  293: ['AUTH_MISSING', 'command requires an authorization session for handle and it is not present'],
  294: ['POLICY', 'policy failure in math operation or an invalid authPolicy value'],
  295: ['PCR', 'PCR check fail'],
  296: ['PCR_CHANGED', 'PCR have changed since checked'],
  301: ['UPGRADE', 'the TPM is in field upgrade mode'],
  302: ['TOO_MANY_CONTEXTS', 'context ID counter is at maximum'],
  303: ['AUTH_UNAVAILABLE', 'authValue or authPolicy is not available for selected entity'],
  304: ['REBOOT', 'a _TPM_Init and Startup(CLEAR) is required before the TPM can resume operation'],
  305: ['UNBALANCED', 'the protection algorithms (hash and symmetric) are not reasonably balanced'],
  322: ['COMMAND_SIZE', 'command size is inconsistent with the contents of the command buffer'],
  323: ['COMMAND_CODE', 'command code not supported'],
  324: ['AUTHSIZE', 'authorizationSize is out of range'],
  325: ['AUTH_CONTEXT', 'authorization session used with a command that cannot have one'],
  326: ['NV_RANGE', 'NV offset+size is out of range'],
  327: ['NV_SIZE', 'requested allocation size is larger than allowed'],
  328: ['NV_LOCKED', 'NV access locked'],
  329: ['NV_AUTHORIZATION', 'NV access authorization fails in command actions'],
  330: ['NV_UNINITIALIZED', 'an NV index is used before being initialized'],
  331: ['NV_SPACE', 'insufficient space for NV allocation'],
  332: ['NV_DEFINED', 'NV index or persistent object already defined'],
  336: ['BAD_CONTEXT', 'context in TPM2_ContextLoad is not valid'],
  337: ['CPHASH', 'cpHash value already set or not correct for use'],
  338: ['PARENT', 'handle for parent is not a valid parent'],
  339: ['NEEDS_TEST', 'some function needs testing'],
  340: ['NO_RESULT', 'an internal function cannot process a request due to an unspecified problem'],
  341: ['SENSITIVE', 'the sensitive area did not unmarshal correctly after decryption'],
};

/** TPM 2.0 format-one errors, keyed by TPM_RC_FMT1 + error number. */
const FORMAT_ONE: Record<number, [string, string]> = {
  129: ['ASYMMETRIC', 'asymmetric algorithm not supported or not correct'],
  130: ['ATTRIBUTES', 'inconsistent attributes'],
  131: ['HASH', 'hash algorithm not supported or not appropriate'],
  132: ['VALUE', 'value is out of range or is not correct for the context'],
  133: ['HIERARCHY', 'hierarchy is not enabled or is not correct for the use'],
  135: ['KEY_SIZE', 'key size is not supported'],
  136: ['MGF', 'mask generation function not supported'],
  137: ['MODE', 'mode of operation not supported'],
  138: ['TYPE', 'the type of the value is not appropriate for the use'],
  139: ['HANDLE', 'the handle is not correct for the use'],
  140: ['KDF', 'unsupported key derivation function or function not appropriate for use'],
  141: ['RANGE', 'value was out of allowed range'],
  142: ['AUTH_FAIL', 'the authorization HMAC check failed and the DA counter incremented'],
  143: ['NONCE', 'invalid nonce size or nonce value mismatch'],
  144: ['PP', 'authorization requires assertion of physical presence'],
  146: ['SCHEME', 'unsupported or incompatible scheme'],
  149: ['SIZE', 'structure is the wrong size'],
  150: ['SYMMETRIC', 'unsupported symmetric algorithm or key size, or not appropriate for instance'],
  151: ['TAG', 'incorrect structure tag'],
  152: ['SELECTOR', 'union selector is incorrect'],
  154: ['INSUFFICIENT', 'the TPM could not unmarshal a value: not enough octets in the input buffer'],
  155: ['SIGNATURE', 'the signature is not valid'],
  156: ['KEY', 'key fields are not compatible with the selected use'],
  157: ['POLICY_FAIL', 'a policy check failed'],
  159: ['INTEGRITY', 'integrity check failed'],
  160: ['TICKET', 'invalid ticket'],
  161: ['RESERVED_BITS', 'reserved bits not set to zero as required'],
  162: ['BAD_AUTH', 'authorization failure without DA implications'],
  163: ['EXPIRED', 'the policy has expired'],
  164: ['POLICY_CC', 'the command code in the policy is not the command code of the command'],
  165: ['BINDING', 'public and sensitive portions of an object are not cryptographically bound'],
  166: ['CURVE', 'curve not supported'],
  167: ['ECC_POINT', 'point is not on the required curve'],
};

/** TPM 2.0 warnings, keyed by TPM_RC_WARN + n. */
const WARNINGS: Record<number, [string, string]> = {
  2305: ['CONTEXT_GAP', 'gap for context ID is too large'],
  2306: ['OBJECT_MEMORY', 'out of memory for object contexts'],
  2307: ['SESSION_MEMORY', 'out of memory for session contexts'],
  2308: ['MEMORY', 'out of shared object/session memory or need space for internal operations'],
  2309: ['SESSION_HANDLES', 'out of session handles; a session must be flushed'],
  2310: ['OBJECT_HANDLES', 'out of object handles; a reboot is required'],
  2311: ['LOCALITY', 'bad locality'],
  2312: ['YIELDED', 'the TPM suspended the command; it may be retried'],
  2313: ['CANCELED', 'the command was canceled'],
  2314: ['TESTING', 'the TPM is performing self-tests'],
  2336: ['NV_RATE', 'the TPM is rate-limiting NV accesses to prevent wear-out'],
  2337: [
    'LOCKOUT',
    'authorizations for objects subject to DA protection are not allowed: the TPM is in dictionary-attack lockout',
  ],
  2338: ['RETRY', 'the TPM was not able to start the command'],
  2339: ['NV_UNAVAILABLE', 'the command may require writing NV and NV is not currently accessible'],
};
for (let n = 0; n < 7; n++) {
  WARNINGS[0x910 + n] = [
    `REFERENCE_H${n}`,
    `handle ${n + 1} references a transient object or session that is not loaded`,
  ];
  WARNINGS[0x918 + n] = [`REFERENCE_S${n}`, `session ${n + 1} references a session that is not loaded`];
}

export function decodeRc(value: number): DecodedRc {
  const rc = value >>> 0;
  const hex = `0x${rc.toString(16).toUpperCase().padStart(8, '0')}`;
  const layerNumber = (rc >>> 16) & 0xff;
  const layer = LAYERS[layerNumber] ?? 'unknown';
  if (rc === 0) {
    return {
      rc,
      hex,
      layer: 'TPM',
      layerNumber,
      base: 0,
      name: 'TPM_RC_SUCCESS',
      description: 'success',
      text: `success [${hex}]`,
    };
  }
  if (layer === 'TPM') return decodeTpm(rc, hex, layer, layerNumber);
  const low = rc & 0xffff;
  if (layer === 'RM' && low & 0x180 && low < 0xf800) return decodeTpm(rc, hex, 'RM-TPM', layerNumber);

  const base = rc & 0xffff;
  const known = BASE_CODES[base];
  const prefix = LAYER_PREFIX[layer];
  const name =
    known && prefix
      ? `${prefix}${known[0]}`
      : `${layer === 'unknown' ? `layer ${layerNumber}` : layer} code ${base}`;
  const description = known?.[1] ?? (base >= 0xf800 ? 'implementation-specific code' : 'unknown code');
  return {
    rc,
    hex,
    layer,
    layerNumber,
    base,
    name,
    description,
    text: `${name} (${layer === 'unknown' ? `layer ${layerNumber}` : LAYER_LABEL[layer]}): ${description} [${hex}]`,
  };
}

function decodeTpm(rc: number, hex: string, layer: RcLayer, layerNumber: number): DecodedRc {
  const code = rc & 0xffff;
  const where = LAYER_LABEL[layer];
  if (code & 0x080) {
    const base = 0x080 + (code & 0x3f);
    const [short, description] = FORMAT_ONE[base] ?? [`0x${base.toString(16)}`, 'unknown format-one error'];
    const n = (code >>> 8) & 0xf;
    const position: Pick<DecodedRc, 'parameter' | 'handle' | 'session'> = {};
    let positionText = '';
    if (code & 0x040) {
      position.parameter = n;
      positionText = `, parameter ${n}`;
    } else if (n & 0x8) {
      // Session 0 does not exist: N = 8 means "some session", like N = 0 for handles.
      if (n & 0x7) {
        position.session = n & 0x7;
        positionText = `, session ${n & 0x7}`;
      }
    } else if (n !== 0) {
      position.handle = n;
      positionText = `, handle ${n}`;
    }
    const name = `TPM_RC_${short}`;
    return {
      rc,
      hex,
      layer,
      layerNumber,
      format: 'format-one',
      base,
      name,
      description,
      ...position,
      text: `${name} (${where}, format one${positionText}): ${description} [${hex}]`,
    };
  }
  if (!(code & 0x100)) {
    const description = 'a TPM 1.2 response code: this TPM does not speak TPM 2.0';
    return {
      rc,
      hex,
      layer,
      layerNumber,
      format: 'format-zero',
      base: code,
      name: 'TPM 1.2 code',
      description,
      text: `TPM 1.2 code ${code} (${where}): ${description} [${hex}]`,
    };
  }
  const warning = (code & 0x800) !== 0;
  const vendor = (code & 0x400) !== 0;
  const base = (warning ? 0x900 : 0x100) + (code & 0x7f);
  const table = warning ? WARNINGS : FORMAT_ZERO;
  const [short, description] = vendor
    ? [
        `vendor 0x${(code & 0x7f).toString(16)}`,
        'vendor-defined response code: see the TPM vendor documentation',
      ]
    : (table[base] ?? [`0x${base.toString(16)}`, `unknown format-zero ${warning ? 'warning' : 'error'}`]);
  const name = vendor ? `TPM vendor code 0x${(code & 0x7f).toString(16)}` : `TPM_RC_${short}`;
  return {
    rc,
    hex,
    layer,
    layerNumber,
    format: 'format-zero',
    warning,
    base,
    name,
    description,
    text: `${name} (${where}, format zero${warning ? ' warning' : ''}): ${description} [${hex}]`,
  };
}

/** The TPM-format base code (position bits stripped), or undefined for software-layer codes. */
export function tpmBaseCode(rc: number): number | undefined {
  const decoded = decodeRc(rc);
  return decoded.layer === 'TPM' || decoded.layer === 'RM-TPM' ? decoded.base : undefined;
}
