import { loadTss2Library } from './library.js';
import { Tss2Error } from './tss2-error.js';

/** The TPM2 structures we move between wire format and C memory. */
export type MuType =
  | 'TPM2B_PUBLIC'
  | 'TPM2B_PRIVATE'
  | 'TPM2B_SENSITIVE_CREATE'
  | 'TPM2B_DATA'
  | 'TPM2B_DIGEST'
  | 'TPML_PCR_SELECTION'
  | 'TPMT_SIG_SCHEME'
  | 'TPMT_TK_HASHCHECK'
  | 'TPMT_SIGNATURE'
  | 'TPMS_CAPABILITY_DATA'
  | 'TPM2B_ATTEST'
  | 'TPM2B_ID_OBJECT'
  | 'TPM2B_ENCRYPTED_SECRET'
  | 'TPMT_SYM_DEF'
  | 'TPM2B_NV_PUBLIC'
  | 'TPM2B_MAX_NV_BUFFER';

/**
 * Room for the C struct of each type: about twice sizeof() in tpm2-tss 3.x/4.x on x86-64 and arm64
 * (616 for TPM2B_PUBLIC, 1552 for TPM2B_PRIVATE, …). Unmarshal never writes past sizeof(), so the
 * margin only guards against a future tpm2-tss with larger MAX_* buffers.
 */
const C_SIZE: Record<MuType, number> = {
  TPM2B_PUBLIC: 2048,
  TPM2B_PRIVATE: 4096,
  TPM2B_SENSITIVE_CREATE: 1024,
  TPM2B_DATA: 256,
  TPM2B_DIGEST: 256,
  TPML_PCR_SELECTION: 512,
  TPMT_SIG_SCHEME: 64,
  TPMT_TK_HASHCHECK: 256,
  TPMT_SIGNATURE: 2048,
  TPMS_CAPABILITY_DATA: 4096,
  TPM2B_ATTEST: 4096,
  TPM2B_ID_OBJECT: 1024,
  TPM2B_ENCRYPTED_SECRET: 1024,
  TPMT_SYM_DEF: 64,
  TPM2B_NV_PUBLIC: 512,
  TPM2B_MAX_NV_BUFFER: 4096,
};

/** Largest wire encoding of any of these types (TPM2B_PRIVATE and TPMS_CAPABILITY_DATA are ~1 KiB). */
const WIRE_MAX = 4096;

type Marshal = (src: Buffer | bigint, buffer: Buffer, size: number, offset: [number]) => number;
type Unmarshal = (buffer: Uint8Array, size: number, offset: [number], dest: Buffer) => number;

let lib: ReturnType<typeof loadTss2Library> | undefined;
const marshalers = new Map<MuType, Marshal>();
const unmarshalers = new Map<MuType, Unmarshal>();

function mu(): ReturnType<typeof loadTss2Library> {
  lib ??= loadTss2Library('libtss2-mu.so.0');
  return lib;
}

/** C struct (ESYS-allocated pointer or our Buffer) → TPM wire format (big-endian, sized). */
export function marshal(type: MuType, src: Buffer | bigint): Uint8Array {
  let fn = marshalers.get(type);
  if (!fn) {
    fn = mu().func(
      `uint32_t Tss2_MU_${type}_Marshal(const void *src, _Out_ uint8_t *buffer, size_t size, _Inout_ size_t *offset)`,
    ) as Marshal;
    marshalers.set(type, fn);
  }
  const buffer = Buffer.alloc(WIRE_MAX);
  const offset: [number] = [0];
  const rc = fn(src, buffer, buffer.length, offset);
  if (rc !== 0) throw new Tss2Error(`Tss2_MU_${type}_Marshal`, rc);
  return new Uint8Array(buffer.subarray(0, offset[0]));
}

/** TPM wire format → the C struct ESYS expects, in a Buffer that lives as long as the caller keeps it. */
export function unmarshal(type: MuType, wire: Uint8Array): Buffer {
  let fn = unmarshalers.get(type);
  if (!fn) {
    fn = mu().func(
      `uint32_t Tss2_MU_${type}_Unmarshal(const uint8_t *buffer, size_t size, _Inout_ size_t *offset, void *dest)`,
    ) as Unmarshal;
    unmarshalers.set(type, fn);
  }
  // Buffer.alloc (not allocUnsafe): its own zeroed, suitably aligned memory, never a pool slice.
  const dest = Buffer.alloc(C_SIZE[type]);
  const offset: [number] = [0];
  const rc = fn(wire, wire.length, offset, dest);
  if (rc !== 0) throw new Tss2Error(`Tss2_MU_${type}_Unmarshal`, rc);
  if (offset[0] !== wire.length) {
    throw new Error(
      `Tss2_MU_${type}_Unmarshal consumed ${offset[0]} of ${wire.length} bytes: malformed ${type}`,
    );
  }
  return dest;
}
