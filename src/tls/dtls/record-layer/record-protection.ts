import { createCipheriv, createDecipheriv } from 'node:crypto';
import { RECORD_HEADER_LENGTH } from '../dtls-record-scanner.js';
import type { AeadSuite } from './aead-suite.js';

/** The record version of DTLS 1.2 (RFC 6347 §4.1), the only one a DTLS 1.2 session writes or reads. */
export const DTLS_1_2_VERSION = 0xfefd;
/** Largest plaintext of one record (2^14, RFC 6347 §4.1). */
export const MAX_PLAINTEXT_LENGTH = 16384;

/** What seal/open need to know about a record besides its bytes. */
export interface RecordNumber {
  epoch: number;
  /** 48-bit sequence number within the epoch. */
  sequence: number;
}

/**
 * AEAD protection of DTLS 1.2 records for one epoch in both directions (RFC 6347 §4.1.2 with RFC 5288
 * / 6655 / 7905): nonce = salt ‖ explicit nonce (the 64-bit epoch ‖ sequence, also sent in the record)
 * or, for ChaCha20-Poly1305, IV XOR that 64-bit number; additional data = epoch ‖ sequence ‖ type ‖
 * version ‖ plaintext length (RFC 5246 §6.2.3.3), each as the record header carries it: a record whose
 * header was changed in transit, its version included, does not open.
 */
export class RecordProtection {
  readonly #suite: AeadSuite;
  readonly #writeKey: Buffer;
  readonly #writeIv: Buffer;
  readonly #readKey: Buffer;
  readonly #readIv: Buffer;

  constructor(
    suite: AeadSuite,
    keys: { writeKey: Buffer; writeIv: Buffer; readKey: Buffer; readIv: Buffer },
  ) {
    this.#suite = suite;
    this.#writeKey = keys.writeKey;
    this.#writeIv = keys.writeIv;
    this.#readKey = keys.readKey;
    this.#readIv = keys.readIv;
  }

  /** Bytes a record adds to its plaintext: header, explicit nonce and tag. */
  get overhead(): number {
    return RECORD_HEADER_LENGTH + this.#suite.explicitNonceLength + this.#suite.tagLength;
  }

  /** The whole protected record (header included) carrying `plaintext` as `contentType`. */
  seal(contentType: number, number: RecordNumber, plaintext: Uint8Array): Buffer {
    const suite = this.#suite;
    const explicit = suite.explicitNonceLength;
    const bodyLength = explicit + plaintext.length + suite.tagLength;
    const record = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + bodyLength);
    record[0] = contentType;
    record.writeUInt16BE(DTLS_1_2_VERSION, 1);
    writeRecordNumber(record, 3, number);
    record.writeUInt16BE(bodyLength, 11);
    const recordNumber = record.subarray(3, 11);
    if (explicit > 0) recordNumber.copy(record, RECORD_HEADER_LENGTH);
    const cipher = createCipheriv(
      suite.algorithm as 'aes-128-gcm',
      this.#writeKey,
      this.#nonce(this.#writeIv, recordNumber),
      {
        authTagLength: suite.tagLength,
      },
    );
    cipher.setAAD(additionalData(recordNumber, contentType, DTLS_1_2_VERSION, plaintext.length), {
      plaintextLength: plaintext.length,
    });
    const ciphertext = cipher.update(plaintext);
    cipher.final();
    ciphertext.copy(record, RECORD_HEADER_LENGTH + explicit);
    cipher.getAuthTag().copy(record, RECORD_HEADER_LENGTH + explicit + ciphertext.length);
    return record;
  }

  /**
   * The plaintext of the record at `offset` of `datagram` (header included, framing already checked),
   * or undefined when it does not authenticate: a forged, corrupted or other-epoch record.
   */
  open(datagram: Buffer, offset: number, bodyLength: number): Buffer | undefined {
    const suite = this.#suite;
    const explicit = suite.explicitNonceLength;
    const plaintextLength = bodyLength - explicit - suite.tagLength;
    if (plaintextLength < 0 || plaintextLength > MAX_PLAINTEXT_LENGTH) return undefined;
    const recordNumber = datagram.subarray(offset + 3, offset + 11);
    const body = offset + RECORD_HEADER_LENGTH;
    // GCM and CCM carry the explicit nonce; RFC 5288 lets a sender choose it, so read it, not assume it.
    const nonce =
      explicit > 0
        ? Buffer.concat([this.#readIv, datagram.subarray(body, body + explicit)])
        : this.#nonce(this.#readIv, recordNumber);
    const ciphertext = datagram.subarray(body + explicit, body + explicit + plaintextLength);
    const tag = datagram.subarray(body + explicit + plaintextLength, body + bodyLength);
    try {
      const decipher = createDecipheriv(suite.algorithm as 'aes-128-gcm', this.#readKey, nonce, {
        authTagLength: suite.tagLength,
      });
      decipher.setAuthTag(tag);
      const version = datagram.readUInt16BE(offset + 1);
      decipher.setAAD(additionalData(recordNumber, datagram[offset] as number, version, plaintextLength), {
        plaintextLength,
      });
      const plaintext = decipher.update(ciphertext);
      decipher.final();
      return plaintext;
    } catch {
      return undefined;
    }
  }

  #nonce(fixedIv: Buffer, recordNumber: Buffer): Buffer {
    if (this.#suite.explicitNonceLength > 0) return Buffer.concat([fixedIv, recordNumber]);
    const nonce = Buffer.from(fixedIv);
    for (let i = 0; i < 8; i++) nonce[4 + i] = (nonce[4 + i] as number) ^ (recordNumber[i] as number);
    return nonce;
  }
}

function additionalData(
  recordNumber: Buffer,
  contentType: number,
  version: number,
  plaintextLength: number,
): Buffer {
  const aad = Buffer.allocUnsafe(13);
  recordNumber.copy(aad, 0);
  aad[8] = contentType;
  aad.writeUInt16BE(version, 9);
  aad.writeUInt16BE(plaintextLength, 11);
  return aad;
}

function writeRecordNumber(target: Buffer, offset: number, number: RecordNumber): void {
  target.writeUInt16BE(number.epoch, offset);
  target.writeUIntBE(number.sequence, offset + 2, 6);
}
