import { crc16 } from './crc16.js';

/**
 * Framing of ATECC608A I2C transfers.
 *
 * A write starts with a word address byte: 0x00 reset the I/O pointer, 0x01 sleep, 0x02 idle,
 * 0x03 command. A command is `03 | count | opcode | param1 | param2 (LE) | data | CRC16 (LE)` with
 * count = 7 + data length (count through CRC). A response is `count | data | CRC16`; a 4-byte
 * response carries a single status byte.
 */
export const WordAddress = { reset: 0x00, sleep: 0x01, idle: 0x02, command: 0x03 } as const;

/** What the part answers to the first read after a wake: count 4, status 0x11, CRC 33 43. */
export const WAKE_TOKEN = Uint8Array.of(0x04, 0x11, 0x33, 0x43);

/** count (1) + CRC (2): the smallest response is one status byte (4 bytes in all). */
export const MIN_RESPONSE = 4;
/** Longest response the part sends (datasheet I/O buffer): more than this is noise. */
export const MAX_RESPONSE = 155;

export function buildCommand(
  opcode: number,
  param1: number,
  param2: number,
  data: Uint8Array = new Uint8Array(),
): Uint8Array {
  const count = 7 + data.length;
  const packet = new Uint8Array(1 + count);
  packet[0] = WordAddress.command;
  packet[1] = count;
  packet[2] = opcode;
  packet[3] = param1 & 0xff;
  packet[4] = param2 & 0xff;
  packet[5] = (param2 >> 8) & 0xff;
  packet.set(data, 6);
  packet.set(crc16(packet.subarray(1, count - 1)), count - 1);
  return packet;
}

export type ParsedResponse = { ok: true; data: Uint8Array } | { ok: false; reason: string };

/** Checks count and CRC of a complete response (`count | data | crc`) and returns its data. */
export function parseResponse(packet: Uint8Array): ParsedResponse {
  const count = packet[0] ?? 0;
  if (count < MIN_RESPONSE || count > MAX_RESPONSE)
    return { ok: false, reason: `bad count byte 0x${count.toString(16)}` };
  if (packet.length !== count)
    return { ok: false, reason: `response is ${packet.length} bytes, count says ${count}` };
  const expected = crc16(packet.subarray(0, count - 2));
  if (packet[count - 2] !== expected[0] || packet[count - 1] !== expected[1]) {
    return { ok: false, reason: 'response CRC mismatch' };
  }
  return { ok: true, data: packet.slice(1, count - 2) };
}

/** Read/Write address (param2): config and OTP by block and 4-byte word, data by slot too. */
export function zoneAddress(
  zone: 'config' | 'otp' | 'data',
  slot: number,
  block: number,
  offset: number,
): number {
  if (zone === 'data') return (block << 8) | (slot << 3) | offset;
  return (block << 3) | offset;
}
