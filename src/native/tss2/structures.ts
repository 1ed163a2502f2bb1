import { TPM2_ALG, TPM2_CAP_TPM_PROPERTIES, TPM2_ST_HASHCHECK } from './constants.js';
import { WireReader } from './wire-reader.js';

/**
 * The few TPM 2.0 structures we build or read, in TPM wire format (TPM 2.0 Part 2). Tss2_MU_* moves
 * them in and out of C memory; this file knows their layout so that no koffi struct has to.
 */

export interface EccPublicTemplate {
  /** TPMA_OBJECT bits. */
  attributes: number;
  authPolicy?: Uint8Array;
  /** TPMT_SYM_DEF_OBJECT; null for TPM_ALG_NULL (a signing key). */
  symmetric: { algorithm: number; keyBits: number; mode: number } | null;
  /** TPMT_ECC_SCHEME; null for TPM_ALG_NULL (a storage key). */
  scheme: { scheme: number; hash: number } | null;
  curve: number;
  /** TPMS_ECC_POINT unique field: empty for ordinary keys, zeros for TCG EK/SRK templates. */
  x?: Uint8Array;
  y?: Uint8Array;
}

export interface EccParameters {
  symmetric: number;
  scheme: number;
  /** Hash of the key's scheme, or null when the scheme is TPM_ALG_NULL. */
  schemeHash: number | null;
  curve: number;
  kdf: number;
  x: Uint8Array;
  y: Uint8Array;
}

/** TPMT_PUBLIC as far as we need it: every field for ECC keys, the header for anything else. */
export interface PublicArea {
  type: number;
  nameAlg: number;
  attributes: number;
  authPolicy: Uint8Array;
  ecc?: EccParameters;
}

const u16 = (value: number): number[] => [(value >>> 8) & 0xff, value & 0xff];
const u32 = (value: number): number[] => [
  (value >>> 24) & 0xff,
  (value >>> 16) & 0xff,
  (value >>> 8) & 0xff,
  value & 0xff,
];
const tpm2b = (bytes: Uint8Array = new Uint8Array()): number[] => [...u16(bytes.length), ...bytes];

/** TPM2B_PUBLIC for an ECC key with nameAlg SHA-256. */
export function encodeEccPublic(template: EccPublicTemplate): Uint8Array {
  const area = [
    ...u16(TPM2_ALG.ECC),
    ...u16(TPM2_ALG.SHA256),
    ...u32(template.attributes),
    ...tpm2b(template.authPolicy),
    ...(template.symmetric
      ? [
          ...u16(template.symmetric.algorithm),
          ...u16(template.symmetric.keyBits),
          ...u16(template.symmetric.mode),
        ]
      : u16(TPM2_ALG.NULL)),
    ...(template.scheme
      ? [...u16(template.scheme.scheme), ...u16(template.scheme.hash)]
      : u16(TPM2_ALG.NULL)),
    ...u16(template.curve),
    ...u16(TPM2_ALG.NULL), // kdf
    ...tpm2b(template.x),
    ...tpm2b(template.y),
  ];
  return Uint8Array.from([...u16(area.length), ...area]);
}

/** TPM2B_PUBLIC (wire) → the fields we check. */
export function decodePublic(wire: Uint8Array): PublicArea {
  const reader = new WireReader(wire, 'TPM2B_PUBLIC');
  const size = reader.u16();
  if (size !== reader.remaining)
    throw new Error(`TPM2B_PUBLIC size ${size} does not match its ${reader.remaining} bytes`);
  const type = reader.u16();
  const nameAlg = reader.u16();
  const attributes = reader.u32();
  const authPolicy = reader.tpm2b();
  if (type !== TPM2_ALG.ECC) return { type, nameAlg, attributes, authPolicy };

  const symmetric = reader.u16();
  if (symmetric === 0x000a)
    reader.u16(); // XOR: hash only
  else if (symmetric !== TPM2_ALG.NULL) reader.bytesOf(4); // keyBits, mode
  const scheme = reader.u16();
  let schemeHash: number | null = null;
  if (scheme !== TPM2_ALG.NULL) {
    schemeHash = reader.u16();
    if (scheme === 0x001a) reader.u16(); // ECDAA: count
  }
  const curve = reader.u16();
  const kdf = reader.u16();
  if (kdf !== TPM2_ALG.NULL) reader.u16();
  const x = reader.tpm2b();
  const y = reader.tpm2b();
  return { type, nameAlg, attributes, authPolicy, ecc: { symmetric, scheme, schemeHash, curve, kdf, x, y } };
}

/** TPM2B_DIGEST. */
export function encodeDigest(digest: Uint8Array): Uint8Array {
  return Uint8Array.from(tpm2b(digest));
}

/** TPMT_SIG_SCHEME with a hash (ECDSA, ECSCHNORR, SM2, RSASSA, RSAPSS). */
export function encodeSigScheme(scheme: number, hash: number): Uint8Array {
  return Uint8Array.from([...u16(scheme), ...u16(hash)]);
}

/** TPMT_TK_HASHCHECK "null ticket": lets an unrestricted key sign a digest the TPM did not compute. */
export function encodeNullHashcheckTicket(hierarchy: number): Uint8Array {
  return Uint8Array.from([...u16(TPM2_ST_HASHCHECK), ...u32(hierarchy), ...u16(0)]);
}

/** TPM2B_SENSITIVE_CREATE with an empty userAuth and no data: the TPM generates the key. */
export const EMPTY_SENSITIVE_CREATE = Uint8Array.from([...u16(4), ...u16(0), ...u16(0)]);

/** TPM2B_SENSITIVE_CREATE with `userAuth` (the new object's authValue) and no data. */
export function encodeSensitiveCreate(userAuth: Uint8Array): Uint8Array {
  return Uint8Array.from([...u16(4 + userAuth.length), ...tpm2b(userAuth), ...u16(0)]);
}
/** TPM2B_DATA (outsideInfo) with nothing in it. */
export const EMPTY_DATA = Uint8Array.from(u16(0));
/** TPML_PCR_SELECTION selecting no PCRs (creationPCR). */
export const EMPTY_PCR_SELECTION = Uint8Array.from(u32(0));

export interface EcdsaSignature {
  sigAlg: number;
  hash: number;
  r: Uint8Array;
  s: Uint8Array;
}

/** TPMT_SIGNATURE (wire) for an ECC scheme → r and s as the TPM returned them (maybe short). */
export function decodeEccSignature(wire: Uint8Array): EcdsaSignature {
  const reader = new WireReader(wire, 'TPMT_SIGNATURE');
  const sigAlg = reader.u16();
  if (![TPM2_ALG.ECDSA, 0x001a, 0x001b, 0x001c].includes(sigAlg)) {
    throw new Error(`TPMT_SIGNATURE has algorithm 0x${sigAlg.toString(16)}, not an ECC signature`);
  }
  const hash = reader.u16();
  const r = reader.tpm2b();
  const s = reader.tpm2b();
  return { sigAlg, hash, r, s };
}

/** TPMS_CAPABILITY_DATA for TPM_CAP_TPM_PROPERTIES → property tag → value. */
export function decodeTaggedProperties(wire: Uint8Array): Map<number, number> {
  const reader = new WireReader(wire, 'TPMS_CAPABILITY_DATA');
  const capability = reader.u32();
  if (capability !== TPM2_CAP_TPM_PROPERTIES) {
    throw new Error(`TPMS_CAPABILITY_DATA holds capability 0x${capability.toString(16)}, not TPM properties`);
  }
  const properties = new Map<number, number>();
  const count = reader.u32();
  for (let i = 0; i < count; i++) properties.set(reader.u32(), reader.u32());
  return properties;
}
