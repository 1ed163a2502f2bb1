import {
  DTLS_CONTENT_TYPE as CONTENT,
  type DtlsRecordInfo,
  DTLS_HANDSHAKE_TYPE as HANDSHAKE,
  RECORD_HEADER_LENGTH,
} from '../dtls-record-scanner.js';
import type { AeadSuite } from './aead-suite.js';
import type { EpochKeys } from './key-block.js';
import { DTLS_1_2_VERSION, MAX_PLAINTEXT_LENGTH, RecordProtection } from './record-protection.js';
import { ReplayWindow } from './replay-window.js';

const ALERT = { WARNING: 1, FATAL: 2, CLOSE_NOTIFY: 0, NO_RENEGOTIATION: 100 } as const;
const MAX_SEQUENCE = 2 ** 48 - 1;

/**
 * Why a record was dropped: `version` (a header version other than DTLS 1.2, refused before any
 * decryption), `replay` (a number the window has seen or left behind), `forged` (it did not
 * authenticate).
 */
export type RecordRejection = 'version' | 'replay' | 'forged';

/** What a RecordChannel tells the session that owns it. */
export interface RecordChannelHost {
  send(datagram: Buffer): void;
  plaintext(data: Buffer): void;
  /** The peer sent close_notify (fatal false) or a fatal alert. */
  peerClosed(fatal: boolean, description: number): void;
  /** An encrypted ClientHello arrived; a no_renegotiation warning went back. */
  renegotiationRefused(): void;
  /** The peer repeated its last flight; ours went out again. */
  retransmitted(): void;
  /** A record was dropped (see RecordRejection). */
  rejected(reason: RecordRejection): void;
}

/** Where OpenSSL left the epoch when it handed over. */
export interface RecordChannelStart {
  /** Epoch of the established keys (1 after the first handshake). */
  epoch: number;
  /** Next sequence number to write in that epoch (one past the last record OpenSSL sent). */
  nextWriteSequence: number;
  /**
   * Copies of the peer's records of that epoch (header included) that OpenSSL may have consumed:
   * every one it was given during the handshake, forged ones included. Only those that authenticate
   * are marked in the replay window, so a forged record cannot move it and a genuine one cannot be
   * accepted a second time here.
   */
  received: readonly Buffer[];
  /** Our last handshake flight, resent if the peer repeats its own (our Finished was lost). */
  lastFlight: readonly Buffer[];
}

/**
 * The record layer of one established DTLS 1.2 server session, after OpenSSL finished the handshake and
 * was freed: AEAD protection in both directions, the replay window, the write sequence, alerts, and the
 * two handshake duties that outlive a handshake — refusing renegotiation and answering a repeated final
 * flight (RFC 6347 §4.2.4: the last flight's sender must answer its retransmission).
 *
 * Why: OpenSSL keeps ~82 KB (3.5.9; 48 KB on 3.0) of native memory per established, idle DTLS
 * connection even with its record buffers released (its handshake buffer, the SSL object, the parsed
 * peer certificate, cipher contexts) that an idle sensor session never uses again. This keeps a few
 * hundred bytes (13 KB of native memory per session in all, measured on 3.5.9; see DtlsSession).
 */
export class RecordChannel {
  readonly #protection: RecordProtection;
  readonly #replay = new ReplayWindow();
  readonly #epoch: number;
  readonly #host: RecordChannelHost;
  #nextWriteSequence: number;
  /** Dropped once the peer proves it has our Finished (any record of its own after the handshake). */
  #lastFlight: readonly Buffer[] | undefined;
  #stopped = false;

  constructor(suite: AeadSuite, keys: EpochKeys, start: RecordChannelStart, host: RecordChannelHost) {
    this.#protection = new RecordProtection(suite, {
      writeKey: keys.serverWriteKey,
      writeIv: keys.serverWriteIv,
      readKey: keys.clientWriteKey,
      readIv: keys.clientWriteIv,
    });
    this.#epoch = start.epoch;
    this.#nextWriteSequence = start.nextWriteSequence;
    for (const record of start.received) this.#markIfAuthentic(record);
    this.#lastFlight = start.lastFlight.length > 0 ? start.lastFlight : undefined;
    this.#host = host;
  }

  /** Largest plaintext one write can carry. */
  static readonly MAX_PLAINTEXT = MAX_PLAINTEXT_LENGTH;

  /** Handles one datagram's records (framing already checked by scanDtlsRecords). */
  receive(datagram: Buffer, records: readonly DtlsRecordInfo[]): void {
    for (const record of records) {
      if (this.#stopped) return;
      // Other epochs: the start of a repeated flight (epoch 0) or nothing we can read.
      if (record.epoch !== this.#epoch) continue;
      // RFC 6347 §4.1: the version is fixed once negotiated. (It is in the additional data as well.)
      if (record.version !== DTLS_1_2_VERSION) {
        this.#host.rejected('version');
        continue;
      }
      const sequence = record.sequence;
      if (!this.#replay.isFresh(sequence)) {
        this.#host.rejected('replay');
        continue;
      }
      const plaintext = this.#protection.open(datagram, record.offset, record.length);
      if (!plaintext) {
        this.#host.rejected('forged');
        continue;
      }
      this.#replay.mark(sequence);
      this.#dispatch(record.contentType, plaintext);
    }
  }

  /** Marks a record OpenSSL was given in the replay window, if it is a genuine one of this epoch. */
  #markIfAuthentic(record: Buffer): void {
    if (record.length < RECORD_HEADER_LENGTH) return;
    if (record.readUInt16BE(3) !== this.#epoch || record.readUInt16BE(1) !== DTLS_1_2_VERSION) return;
    const bodyLength = record.length - RECORD_HEADER_LENGTH;
    if (record.readUInt16BE(11) !== bodyLength) return;
    if (this.#protection.open(record, 0, bodyLength)) this.#replay.mark(record.readUIntBE(5, 6));
  }

  /** The session ended: records still in hand are ignored. */
  stop(): void {
    this.#stopped = true;
  }

  /** Sends `data` as one application-data record. */
  write(data: Uint8Array): void {
    this.#host.send(this.#seal(CONTENT.APPLICATION_DATA, data));
  }

  /** Sends close_notify. */
  closeNotify(): void {
    this.#sendAlert(ALERT.WARNING, ALERT.CLOSE_NOTIFY);
  }

  #dispatch(contentType: number, plaintext: Buffer): void {
    switch (contentType) {
      case CONTENT.APPLICATION_DATA:
        this.#lastFlight = undefined;
        this.#host.plaintext(plaintext);
        return;
      case CONTENT.ALERT: {
        this.#lastFlight = undefined;
        const level = plaintext[0];
        const description = plaintext[1] ?? -1;
        if (description === ALERT.CLOSE_NOTIFY || level === ALERT.FATAL || plaintext.length !== 2) {
          this.#host.peerClosed(description !== ALERT.CLOSE_NOTIFY, description);
        }
        return; // other warnings change nothing
      }
      case CONTENT.HANDSHAKE:
        if (plaintext[0] === HANDSHAKE.CLIENT_HELLO) {
          this.#sendAlert(ALERT.WARNING, ALERT.NO_RENEGOTIATION);
          this.#host.renegotiationRefused();
        } else if (plaintext[0] === HANDSHAKE.FINISHED && this.#lastFlight) {
          for (const datagram of this.#lastFlight) this.#host.send(datagram);
          this.#host.retransmitted();
        }
        return;
      default:
        return; // a late ChangeCipherSpec
    }
  }

  #sendAlert(level: number, description: number): void {
    this.#host.send(this.#seal(CONTENT.ALERT, Buffer.from([level, description])));
  }

  #seal(contentType: number, plaintext: Uint8Array): Buffer {
    if (this.#nextWriteSequence > MAX_SEQUENCE) {
      // 2^48 records in one epoch: renegotiation is refused, so the session cannot go on.
      throw new RangeError('DTLS write sequence numbers of this epoch are exhausted');
    }
    const sequence = this.#nextWriteSequence++;
    return this.#protection.seal(contentType, { epoch: this.#epoch, sequence }, plaintext);
  }
}
