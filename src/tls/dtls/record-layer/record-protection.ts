import { RECORD_HEADER_LENGTH } from '../dtls-record-scanner.js';
import { AeadContext } from './aead-context.js';
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
  readonly #sealer: AeadContext;
  readonly #opener: AeadContext;

  constructor(
    suite: AeadSuite,
    keys: { writeKey: Buffer; writeIv: Buffer; readKey: Buffer; readIv: Buffer },
  ) {
    this.#suite = suite;
    this.#writeKey = keys.writeKey;
    this.#writeIv = keys.writeIv;
    this.#readKey = keys.readKey;
    this.#readIv = keys.readIv;
    this.#sealer = AeadContext.for(suite, true);
    this.#opener = AeadContext.for(suite, false);
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
    if (explicit > 0) record.copy(record, RECORD_HEADER_LENGTH, 3, 11);
    this.#fillNonce(this.#writeIv, record, 3);
    fillAdditionalData(record, 3, contentType, DTLS_1_2_VERSION, plaintext.length);
    if (!this.#sealer.seal(this.#writeKey, nonce, aad, plaintext, record, RECORD_HEADER_LENGTH + explicit)) {
      throw new Error(`OpenSSL failed to seal a ${suite.algorithm} record`);
    }
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
    const body = offset + RECORD_HEADER_LENGTH;
    // GCM and CCM carry the explicit nonce; RFC 5288 lets a sender choose it, so read it, not assume it.
    this.#fillNonce(this.#readIv, datagram, explicit > 0 ? body : offset + 3);
    const version = datagram.readUInt16BE(offset + 1);
    fillAdditionalData(datagram, offset + 3, datagram[offset] as number, version, plaintextLength);
    const ciphertext = datagram.subarray(body + explicit, body + explicit + plaintextLength);
    const tag = datagram.subarray(body + explicit + plaintextLength, body + bodyLength);
    const plaintext = Buffer.allocUnsafe(plaintextLength);
    return this.#opener.open(this.#readKey, nonce, aad, ciphertext, tag, plaintext) ? plaintext : undefined;
  }

  /**
   * Writes the record's nonce into `nonce` from the 8 bytes at `at` of `source`: salt ‖ those bytes
   * (GCM, CCM), or the IV XOR 0000 ‖ those bytes (ChaCha20-Poly1305).
   */
  #fillNonce(fixedIv: Buffer, source: Buffer, at: number): void {
    if (this.#suite.explicitNonceLength > 0) {
      fixedIv.copy(nonce, 0, 0, 4);
      source.copy(nonce, 4, at, at + 8);
      return;
    }
    fixedIv.copy(nonce, 0, 0, 12);
    for (let i = 0; i < 8; i++) nonce[4 + i] = (nonce[4 + i] as number) ^ (source[at + i] as number);
  }
}

/**
 * One record's nonce and additional data, rewritten for each record: seal and open run synchronously,
 * one record at a time per thread.
 */
const nonce = Buffer.alloc(12);
const aad = Buffer.alloc(13);

/** Additional data: the 8-byte epoch ‖ sequence at `at` of `source`, then type, version, length. */
function fillAdditionalData(
  source: Buffer,
  at: number,
  contentType: number,
  version: number,
  plaintextLength: number,
): void {
  source.copy(aad, 0, at, at + 8);
  aad[8] = contentType;
  aad[9] = version >>> 8;
  aad[10] = version & 0xff;
  aad[11] = plaintextLength >>> 8;
  aad[12] = plaintextLength & 0xff;
}

function writeRecordNumber(target: Buffer, offset: number, number: RecordNumber): void {
  target.writeUInt16BE(number.epoch, offset);
  target.writeUIntBE(number.sequence, offset + 2, 6);
}
