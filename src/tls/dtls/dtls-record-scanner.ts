/**
 * Reads the plaintext framing of DTLS records (RFC 6347 §4.1) without touching OpenSSL: content type,
 * version, epoch, length and, for unencrypted handshake records, the handshake fragment header.
 *
 * Why: the server must judge a datagram before spending anything on it. A datagram from an unknown
 * address has to be an unfragmented ClientHello to reach the cookie exchange; truncated records would
 * desynchronise OpenSSL's memory BIO (it is a byte stream, not a datagram queue); records for epochs a
 * session cannot have are dropped and counted rather than handed to OpenSSL silently.
 */

export const DTLS_CONTENT_TYPE = {
  CHANGE_CIPHER_SPEC: 20,
  ALERT: 21,
  HANDSHAKE: 22,
  APPLICATION_DATA: 23,
} as const;
export const DTLS_HANDSHAKE_TYPE = { CLIENT_HELLO: 1, FINISHED: 20 } as const;

/** type(1) version(2) epoch(2) sequence_number(6) length(2). */
export const RECORD_HEADER_LENGTH = 13;
const HANDSHAKE_HEADER_LENGTH = 12;
/** 2^14 plaintext + 2048 expansion (RFC 6347 §4.1.2.x, TLSCiphertext.length). */
const MAX_RECORD_LENGTH = 16384 + 2048;

export interface DtlsRecordInfo {
  contentType: number;
  version: number;
  epoch: number;
  /** 48-bit sequence number within the epoch. */
  sequence: number;
  /** Offset of the record header in the datagram. */
  offset: number;
  /** Length of the record body (without the 13-byte header). */
  length: number;
  /** Only for handshake records of epoch 0 (plaintext). */
  handshake?: {
    type: number;
    length: number;
    messageSeq: number;
    fragmentOffset: number;
    fragmentLength: number;
  };
}

export type DtlsScanResult = { ok: true; records: DtlsRecordInfo[] } | { ok: false; reason: string };

/** Every record of a datagram; `ok: false` when any record is truncated or not DTLS at all. */
export function scanDtlsRecords(datagram: Uint8Array): DtlsScanResult {
  const records: DtlsRecordInfo[] = [];
  let offset = 0;
  if (datagram.length === 0) return { ok: false, reason: 'empty datagram' };
  while (offset < datagram.length) {
    if (datagram.length - offset < RECORD_HEADER_LENGTH) {
      return { ok: false, reason: `truncated record header at byte ${offset}` };
    }
    const contentType = datagram[offset] as number;
    if (
      contentType < DTLS_CONTENT_TYPE.CHANGE_CIPHER_SPEC ||
      contentType > DTLS_CONTENT_TYPE.APPLICATION_DATA
    ) {
      return { ok: false, reason: `unknown content type ${contentType} at byte ${offset}` };
    }
    const version = readUint(datagram, offset + 1, 2);
    // DTLS 1.0 (0xfeff) appears in ClientHello records for compatibility; 1.2 is 0xfefd.
    if (version !== 0xfefd && version !== 0xfeff) {
      return {
        ok: false,
        reason: `not a DTLS 1.x record (version 0x${version.toString(16)}) at byte ${offset}`,
      };
    }
    const epoch = readUint(datagram, offset + 3, 2);
    const length = readUint(datagram, offset + 11, 2);
    if (length > MAX_RECORD_LENGTH)
      return { ok: false, reason: `record length ${length} exceeds the maximum` };
    if (offset + RECORD_HEADER_LENGTH + length > datagram.length) {
      return { ok: false, reason: `truncated record at byte ${offset}: ${length} bytes announced` };
    }
    const sequence = readUint(datagram, offset + 5, 6);
    const record: DtlsRecordInfo = { contentType, version, epoch, sequence, offset, length };
    if (contentType === DTLS_CONTENT_TYPE.HANDSHAKE && epoch === 0) {
      const body = offset + RECORD_HEADER_LENGTH;
      if (length < HANDSHAKE_HEADER_LENGTH) return { ok: false, reason: 'truncated handshake header' };
      const fragmentOffset = readUint(datagram, body + 6, 3);
      const fragmentLength = readUint(datagram, body + 9, 3);
      if (HANDSHAKE_HEADER_LENGTH + fragmentLength > length) {
        return { ok: false, reason: 'handshake fragment longer than its record' };
      }
      record.handshake = {
        type: datagram[body] as number,
        length: readUint(datagram, body + 1, 3),
        messageSeq: readUint(datagram, body + 4, 2),
        fragmentOffset,
        fragmentLength,
      };
    }
    records.push(record);
    offset += RECORD_HEADER_LENGTH + length;
  }
  return { ok: true, records };
}

/** True when the first record is a whole (unfragmented) epoch-0 ClientHello: what DTLSv1_listen accepts. */
export function isInitialClientHello(records: readonly DtlsRecordInfo[]): boolean {
  const first = records[0];
  const handshake = first?.handshake;
  return (
    first !== undefined &&
    handshake !== undefined &&
    first.contentType === DTLS_CONTENT_TYPE.HANDSHAKE &&
    first.epoch === 0 &&
    handshake.type === DTLS_HANDSHAKE_TYPE.CLIENT_HELLO &&
    handshake.fragmentOffset === 0 &&
    handshake.fragmentLength === handshake.length
  );
}

/** The largest handshake message length announced by plaintext fragments (0 when none). */
export function largestHandshakeMessage(records: readonly DtlsRecordInfo[]): number {
  let largest = 0;
  for (const record of records) largest = Math.max(largest, record.handshake?.length ?? 0);
  return largest;
}

function readUint(bytes: Uint8Array, offset: number, width: number): number {
  let value = 0;
  for (let i = 0; i < width; i++) value = value * 256 + (bytes[offset + i] as number);
  return value;
}
