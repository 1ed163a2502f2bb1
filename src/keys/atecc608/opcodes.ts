/**
 * ATECC608A opcodes the driver uses, with their names for messages and the longest execution time
 * the part may take (ms, datasheet / CryptoAuthLib table for the default clock divider). The driver
 * polls a busy part up to that limit before it treats the command as lost.
 */
export const Opcode = {
  Read: 0x02,
  Write: 0x12,
  Nonce: 0x16,
  Lock: 0x17,
  Random: 0x1b,
  Info: 0x30,
  GenKey: 0x40,
  Sign: 0x41,
  Verify: 0x45,
  Sha: 0x47,
} as const;

const NAMES = new Map<number, string>(Object.entries(Opcode).map(([name, code]) => [code, name]));

const MAX_EXECUTION_MS: Record<number, number> = {
  [Opcode.Read]: 5,
  [Opcode.Write]: 45,
  [Opcode.Nonce]: 20,
  [Opcode.Lock]: 35,
  [Opcode.Random]: 23,
  [Opcode.Info]: 5,
  [Opcode.GenKey]: 115,
  [Opcode.Sign]: 115,
  [Opcode.Verify]: 105,
  [Opcode.Sha]: 36,
};

/** "Sign (0x41)" */
export function opcodeName(opcode: number): string {
  return `${NAMES.get(opcode) ?? 'opcode'} (0x${opcode.toString(16).padStart(2, '0').toUpperCase()})`;
}

export function maxExecutionMs(opcode: number): number {
  return MAX_EXECUTION_MS[opcode] ?? 250;
}

/** Zone selector in param1 of Read/Write (bits 0–1); bit 7 selects a 32-byte transfer. */
export const Zone = { config: 0x00, otp: 0x01, data: 0x02 } as const;
export type ZoneName = keyof typeof Zone;
export const ZONE_32_BYTES = 0x80;
