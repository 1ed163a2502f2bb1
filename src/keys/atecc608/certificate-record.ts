import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { FactoryCertificates } from '../key-device.js';
import { KeyError } from '../key-error.js';
import { slotSize } from './atecc608-driver.js';

/**
 * How the factory certificates sit in the ATECC608A's data zone (see atecc608-device.ts).
 *
 * One record, written across the certificate slots in order:
 *
 *   offset  size  field
 *   0       4     magic "EGWC"
 *   4       1     version: 2 (1 = written before spare key slots existed; see certificateSlots)
 *   5       1     flags: bit 0 = payload is raw DEFLATE (RFC 1951)
 *   6       2     device certificate DER length (big endian)
 *   8       2     signer certificate DER length (big endian)
 *   10      2     payload length (big endian)
 *   12      4     first 4 bytes of SHA-256(device DER ‖ signer DER)
 *   16      …     payload: device DER ‖ signer DER, deflated when that is smaller
 *
 * Reading rebuilds both DER encodings byte for byte and checks them against the hash.
 */
export const RECORD_HEADER_BYTES = 16;
const MAGIC = Buffer.from('EGWC', 'latin1');
/** Version written; 1 is still read (parts provisioned before spare key slots). */
const VERSION = 2;
const FLAG_DEFLATE = 0x01;

/**
 * The two 36-byte slots beside the factory key slot that hold rotated keys (renewal with
 * identity.renewal.rotate_key): the lowest two of 0–7 other than the key slot.
 */
export function spareKeySlots(keySlot: number): [number, number] {
  const [a, b] = [0, 1, 2, 3, 4, 5, 6, 7].filter((slot) => slot !== keySlot);
  return [a as number, b as number];
}

/**
 * Slots holding the record, in order: 8 (416 B), 9–15 (72 B each), then 0–7 (36 B each) except the
 * key slot and (record version 2) its two spare key slots. Slot 8 always comes first, so the header
 * (and with it the version) is found before the layout is known.
 */
export function certificateSlots(keySlot: number, version = VERSION): number[] {
  const keys = version >= 2 ? [keySlot, ...spareKeySlots(keySlot)] : [keySlot];
  return [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7].filter((slot) => !keys.includes(slot));
}

export function certificateCapacity(keySlot: number, version = VERSION): number {
  return certificateSlots(keySlot, version).reduce((total, slot) => total + slotSize(slot), 0);
}

/** `version` other than the current one only to reproduce older parts (tests). */
export function encodeCertificates(
  certificates: FactoryCertificates,
  capacity: number,
  where: string,
  version = VERSION,
): Uint8Array {
  const { device, signer } = certificates;
  for (const [name, der] of [
    ['device', device],
    ['signer', signer],
  ] as const) {
    if (der.length === 0 || der.length > 0xffff || der[0] !== 0x30) {
      throw new KeyError(
        'EGW_KEY_DEVICE_ERROR',
        `the ${name} certificate is not a DER certificate (${der.length} bytes)`,
        {
          hint: 'pass DER-encoded X.509 certificates (convert PEM with `openssl x509 -outform der`)',
        },
      );
    }
  }
  const plain = Buffer.concat([device, signer]);
  const deflated = deflateRawSync(plain, { level: 9 });
  const compress = deflated.length < plain.length;
  const payload = compress ? deflated : plain;
  const record = Buffer.alloc(RECORD_HEADER_BYTES + payload.length);
  MAGIC.copy(record, 0);
  record[4] = version;
  record[5] = compress ? FLAG_DEFLATE : 0;
  record.writeUInt16BE(device.length, 6);
  record.writeUInt16BE(signer.length, 8);
  record.writeUInt16BE(payload.length, 10);
  createHash('sha256').update(plain).digest().copy(record, 12, 0, 4);
  payload.copy(record, RECORD_HEADER_BYTES);
  if (record.length > capacity) {
    throw new KeyError(
      'EGW_KEY_DEVICE_ERROR',
      `${where}: the certificates need ${record.length} bytes (device ${device.length} B + signer ${signer.length} B, stored as ${payload.length} B) but the certificate slots hold ${capacity} B`,
      { hint: 'issue shorter factory certificates (shorter names, fewer extensions)' },
    );
  }
  return new Uint8Array(record);
}

/**
 * Total record length and version from its first 16 bytes, or undefined when no record was ever
 * written.
 */
export function recordHeader(
  header: Uint8Array,
  where: string,
): { length: number; version: number } | undefined {
  const bytes = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (bytes.length < RECORD_HEADER_BYTES || !bytes.subarray(0, 4).equals(MAGIC)) return undefined;
  const version = bytes[4] ?? 0;
  if (version < 1 || version > VERSION) {
    throw new KeyError(
      'EGW_KEY_DEVICE_ERROR',
      `${where}: certificate record version ${bytes[4]} is not supported`,
      {
        hint: 'the part was provisioned by a newer edge-gatewayd: upgrade this one',
      },
    );
  }
  return { length: RECORD_HEADER_BYTES + bytes.readUInt16BE(10), version };
}

export function decodeCertificates(record: Uint8Array, where: string): FactoryCertificates {
  const bytes = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  const corrupt = (why: string) =>
    new KeyError(
      'EGW_KEY_DEVICE_ERROR',
      `${where}: the certificate record in the data zone is corrupt (${why})`,
      {
        hint: 're-provision the certificates (gatewayctl provision) before the data zone is locked',
      },
    );
  const deviceLength = bytes.readUInt16BE(6);
  const signerLength = bytes.readUInt16BE(8);
  const payload = bytes.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + bytes.readUInt16BE(10));
  let plain: Buffer;
  try {
    plain = (bytes[5] ?? 0) & FLAG_DEFLATE ? inflateRawSync(payload) : payload;
  } catch (error) {
    throw corrupt(`payload does not inflate: ${(error as Error).message}`);
  }
  if (plain.length !== deviceLength + signerLength) throw corrupt('lengths do not add up');
  if (!createHash('sha256').update(plain).digest().subarray(0, 4).equals(bytes.subarray(12, 16))) {
    throw corrupt('hash mismatch');
  }
  return {
    device: new Uint8Array(plain.subarray(0, deviceLength)),
    signer: new Uint8Array(plain.subarray(deviceLength)),
  };
}
