/**
 * PCR selections as configured ("sha256:0,1,2,3,4,5,6,7") and as the TPM takes them
 * (TPML_PCR_SELECTION). One bank per selection: what a quote policy compares is one digest.
 */

export interface PcrSelection {
  bank: 'sha1' | 'sha256' | 'sha384';
  pcrs: number[];
}

const BANK_ALG: Record<PcrSelection['bank'], number> = { sha1: 0x0004, sha256: 0x000b, sha384: 0x000c };

/** "sha256:0,1,7" → { bank, pcrs } (sorted, unique); throws a message naming what is wrong. */
export function parsePcrSelection(text: string): PcrSelection {
  const match = /^(sha1|sha256|sha384):(\d{1,2}(?:,\d{1,2})*)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a PCR selection such as "sha256:0,1,2,3,4,5,6,7"`);
  const pcrs = [...new Set((match[2] as string).split(',').map(Number))].sort((a, b) => a - b);
  const outside = pcrs.find((pcr) => pcr > 23);
  if (outside !== undefined) throw new Error(`PCR ${outside} in "${text}" does not exist (0–23)`);
  return { bank: match[1] as PcrSelection['bank'], pcrs };
}

/** The TPM hash algorithm id of a bank. */
export function bankAlgorithm(bank: PcrSelection['bank']): number {
  return BANK_ALG[bank];
}

/** TPML_PCR_SELECTION wire: count 1, hash, sizeofSelect 3, the bitmap of PCRs 0–23. */
export function encodePcrSelection(selection: PcrSelection): Uint8Array {
  const out = new Uint8Array(4 + 2 + 1 + 3);
  out[3] = 1;
  const alg = BANK_ALG[selection.bank];
  out[4] = alg >>> 8;
  out[5] = alg & 0xff;
  out[6] = 3;
  for (const pcr of selection.pcrs) out[7 + (pcr >> 3)] = (out[7 + (pcr >> 3)] as number) | (1 << (pcr & 7));
  return out;
}
