import { type BlockOption, blockSize } from './block-option.js';

/** What became of one Block1 request body. */
export type Block1Outcome =
  /** Stored: answer 2.31 Continue and wait for the next block. */
  | { kind: 'continue' }
  /** The last block arrived: here is the whole body. */
  | { kind: 'complete'; body: Buffer }
  /** The body is (or is announced) larger than the limit: 4.13 with Size1. */
  | { kind: 'too-large' }
  /** A block out of order, or for a transfer the gateway does not hold (any more): 4.08. */
  | { kind: 'incomplete'; reason: string }
  /** A block that breaks RFC 7959's rules: 4.00. */
  | { kind: 'bad'; reason: string };

interface Transfer {
  peer: string;
  contentFormat: number | undefined;
  chunks: Buffer[];
  received: number;
  touchedAt: number;
}

export interface Block1Limits {
  /** Largest body assembled. */
  maxBytes: number;
  /** Transfers held at once for all sensors (the oldest is dropped for a new one). */
  maxTransfers: number;
  /** Transfers held at once per sensor session. */
  maxTransfersPerPeer: number;
  /** A transfer whose next block does not come within this is dropped (RFC 7959 §2.4: EXCHANGE_LIFETIME). */
  lifetimeMs: number;
}

/**
 * Reassembles block-wise request bodies (RFC 7959 §2.5, Block1) in order, in bounded memory.
 * A transfer is keyed by the sensor's session, its Request-Tag (RFC 9175) and the resource, never by
 * the token: clients may change the token for every block (libcoap does). Blocks must arrive in
 * order — a CoAP client sends the next block only after the 2.31 for the previous one, and
 * retransmissions are filtered by message id before they get here.
 */
export class Block1Assembler {
  readonly #limits: Block1Limits;
  readonly #now: () => number;
  /** Insertion order is least recently used first (a touched transfer moves to the end). */
  readonly #transfers = new Map<string, Transfer>();

  constructor(limits: Block1Limits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Transfers waiting for their next block. */
  get inProgress(): number {
    return this.#transfers.size;
  }

  /**
   * Takes one block of a request body. `peer` names the sensor's session, `key` the transfer within it
   * (Request-Tag and resource); `size1` is the total size the client announced, if it did.
   */
  add(
    peer: string,
    key: string,
    block: BlockOption,
    payload: Buffer,
    contentFormat: number | undefined,
    size1?: number,
  ): Block1Outcome {
    const id = `${peer} ${key}`;
    const size = blockSize(block);
    if (block.more && payload.length !== size) {
      this.#transfers.delete(id);
      return {
        kind: 'bad',
        reason: `block ${block.num} has more to come, so it must carry ${size} bytes, not ${payload.length}`,
      };
    }
    if (payload.length > size) {
      this.#transfers.delete(id);
      return { kind: 'bad', reason: `block ${block.num} carries ${payload.length} bytes, over its ${size}` };
    }
    const offset = block.num * size;
    if (
      (size1 !== undefined && size1 > this.#limits.maxBytes) ||
      offset + payload.length > this.#limits.maxBytes
    ) {
      this.#transfers.delete(id);
      return { kind: 'too-large' };
    }
    this.#dropExpired();
    let transfer = this.#transfers.get(id);
    if (block.num === 0) {
      transfer = { peer, contentFormat, chunks: [], received: 0, touchedAt: 0 };
      this.#makeRoom(peer, id);
    } else if (!transfer) {
      return {
        kind: 'incomplete',
        reason: `block ${block.num} of a transfer the gateway does not hold (block 0 missing, or expired)`,
      };
    } else if (offset !== transfer.received) {
      this.#transfers.delete(id);
      return {
        kind: 'incomplete',
        reason: `expected the block at byte ${transfer.received}, got block ${block.num} (byte ${offset})`,
      };
    } else if (contentFormat !== transfer.contentFormat) {
      this.#transfers.delete(id);
      return { kind: 'bad', reason: 'the Content-Format changed within a block-wise transfer' };
    }
    this.#transfers.delete(id);
    transfer.chunks.push(payload);
    transfer.received += payload.length;
    if (!block.more) return { kind: 'complete', body: Buffer.concat(transfer.chunks, transfer.received) };
    transfer.touchedAt = this.#now();
    this.#transfers.set(id, transfer);
    return { kind: 'continue' };
  }

  /** Drops a session's transfers (it ended: its blocks cannot continue). */
  forgetPeer(peer: string): void {
    for (const [id, transfer] of this.#transfers) {
      if (transfer.peer === peer) this.#transfers.delete(id);
    }
  }

  clear(): void {
    this.#transfers.clear();
  }

  #dropExpired(): void {
    const before = this.#now() - this.#limits.lifetimeMs;
    for (const [id, transfer] of this.#transfers) {
      if (transfer.touchedAt >= before) break;
      this.#transfers.delete(id);
    }
  }

  /** A new transfer replaces the same one restarted, then the session's oldest, then anyone's oldest. */
  #makeRoom(peer: string, id: string): void {
    this.#transfers.delete(id);
    const mine = [...this.#transfers].filter(([, transfer]) => transfer.peer === peer);
    for (const [oldest] of mine.slice(0, Math.max(0, mine.length - this.#limits.maxTransfersPerPeer + 1))) {
      this.#transfers.delete(oldest);
    }
    for (const [oldest] of this.#transfers) {
      if (this.#transfers.size < this.#limits.maxTransfers) break;
      this.#transfers.delete(oldest);
    }
  }
}
