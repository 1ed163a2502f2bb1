import { WireReader } from '../../src/native/tss2/wire-reader.js';

/** TPM_GENERATED_VALUE: the TPM signs only TPMS_ATTEST structures starting with it. */
const TPM_GENERATED = 0xff544347;
export const TPM2_ST_ATTEST_CERTIFY = 0x8017;
export const TPM2_ST_ATTEST_QUOTE = 0x8018;

/** TPMS_ATTEST, as far as a verifier reads it (TPM 2.0 Part 2 §10.12.12). */
export interface Attest {
  type: number;
  qualifiedSigner: Uint8Array;
  extraData: Uint8Array;
  /** TPMS_CERTIFY_INFO.name (type CERTIFY). */
  certifiedName?: Uint8Array;
  /** TPMS_QUOTE_INFO (type QUOTE): the selection (TPML_PCR_SELECTION wire) and its digest. */
  pcrSelect?: Uint8Array;
  pcrDigest?: Uint8Array;
}

export function readAttest(bytes: Uint8Array): Attest {
  const reader = new WireReader(bytes, 'TPMS_ATTEST');
  if (reader.u32() !== TPM_GENERATED) throw new Error('TPMS_ATTEST does not start with TPM_GENERATED_VALUE');
  const type = reader.u16();
  const qualifiedSigner = reader.tpm2b();
  const extraData = reader.tpm2b();
  reader.bytesOf(17 + 8); // clockInfo, firmwareVersion
  if (type === TPM2_ST_ATTEST_CERTIFY) {
    const certifiedName = reader.tpm2b();
    reader.tpm2b(); // qualifiedName
    return { type, qualifiedSigner, extraData, certifiedName };
  }
  if (type === TPM2_ST_ATTEST_QUOTE) {
    const start = reader.offset;
    const count = reader.u32();
    for (let i = 0; i < count; i++) {
      reader.u16();
      reader.bytesOf(reader.u8());
    }
    const pcrSelect = bytes.slice(start, reader.offset);
    return { type, qualifiedSigner, extraData, pcrSelect, pcrDigest: reader.tpm2b() };
  }
  return { type, qualifiedSigner, extraData };
}
