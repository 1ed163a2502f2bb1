import { createHash } from 'node:crypto';
import type { CommandMessage, CommandSource } from '../proxy-ports.js';
import { type BlockOption, blockOptionValue, blockSize } from './block-option.js';
import type { CoapCounters } from './coap-counters.js';

/**
 * The largest command payload the sensor endpoint delivers (block-wise): the largest
 * upstream.commands.max_bytes, whose ingress refuses (and reports) what the operator allows no more.
 * A larger one, should it come, is passed over (commandsSkipped) so that the ones behind it go.
 */
export const MAX_COMMAND_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** One block of a command being sent block-wise, as a GET /commands with Block2 asked for it. */
export interface CommandBlock {
  payload: Buffer;
  block2: BlockOption;
  size2: number;
  etag: Buffer;
  contentFormat: number;
}

/**
 * The observation's side of the wire as CommandObservation uses it: ObserveChannel (and node-coap's
 * ObserveWriteStream, which it was written against, has the same surface).
 */
export interface ObserveStream {
  _packet: { confirmable?: boolean; ack?: boolean; options?: { name: string | number; value: unknown }[] };
  _send(stream: never, packet: { messageId?: number }): void;
  statusCode: string;
  readonly writableEnded: boolean;
  setOption(name: string, value: unknown): unknown;
  write(payload: Buffer): boolean;
  end(): void;
  on(event: 'finish', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

interface InFlight {
  command: CommandMessage;
  etag: Buffer;
  /** The notification's message id; undefined once it was acknowledged. */
  messageId: number | undefined;
  timer: NodeJS.Timeout;
  /** With a command larger than a block: the block size (SZX) of the first block. */
  szx?: number;
}

/**
 * One sensor observing /commands (RFC 7641): its commands go out one at a time as confirmable
 * notifications on the session's observe stream (ObserveChannel), and a command counts as delivered only when the
 * sensor acknowledges its notification — then the next one goes. A command larger than one block
 * (sized from the DTLS MTU) goes block-wise (RFC 7959 §2.6, §3.4): the notification carries its first
 * block with Block2, Size2 and the command's ETag, the sensor GETs the other blocks, and the command
 * counts as delivered when its last block is asked for. A command whose blocks are not fetched within
 * MAX_TRANSMIT_WAIT, or over MAX_COMMAND_PAYLOAD_BYTES, is passed over (it stays with the
 * CommandSource) so that it does not hold the commands behind it. The session retransmits a
 * notification and ends the stream on its RST; a notification still unacknowledged after MAX_TRANSMIT_WAIT ends the
 * observation too (RFC 7641 §4.5: the sensor is gone). Commands not acknowledged stay with the
 * CommandSource for the next registration.
 *
 * Two things an observe stream does not decide are set on the stream itself:
 * - notifications are confirmable even when the registration was not (it copies the request's type,
 *   and for a NON registration would even send notifications typed ACK);
 * - the message id the stream's send path gives each notification, read off it, which is how the
 *   sensor's empty ACK is matched to the command.
 */
export class CommandObservation {
  readonly sensorId: string;
  /** The sensor's DTLS session, as CoapSessions names it ("address:port/serial"). */
  readonly peer: string;
  /** The registration's token, hex: a deregistration (Observe: 1) names the same one. */
  readonly token: string;
  readonly #stream: ObserveStream;
  readonly #commands: CommandSource;
  readonly #counters: CoapCounters;
  readonly #now: () => Date;
  readonly #ackTimeoutMs: number;
  /** SZX of the largest block a notification or a block reply may carry. */
  readonly #szx: number;
  readonly #onClose: (observation: CommandObservation, reason: string) => void;
  readonly #queue: CommandMessage[] = [];
  #inFlight: InFlight | undefined;
  #unsubscribe: (() => void) | undefined;
  #lastMessageId: number | undefined;
  #closed = false;

  constructor(options: {
    stream: ObserveStream;
    sensorId: string;
    peer: string;
    token: string;
    commands: CommandSource;
    counters: CoapCounters;
    now: () => Date;
    /** How long a notification may wait for its ACK before the sensor is taken as gone (MAX_TRANSMIT_WAIT). */
    ackTimeoutMs: number;
    /** SZX (block size 2^(szx+4)) of the largest command block that fits one datagram. */
    szx: number;
    onClose: (observation: CommandObservation, reason: string) => void;
  }) {
    this.#stream = options.stream;
    this.sensorId = options.sensorId;
    this.peer = options.peer;
    this.token = options.token;
    this.#commands = options.commands;
    this.#counters = options.counters;
    this.#now = options.now;
    this.#ackTimeoutMs = options.ackTimeoutMs;
    this.#szx = options.szx;
    this.#onClose = options.onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Answers the registration (2.05, Observe), then subscribes to the sensor's commands. */
  start(): void {
    const stream = this.#stream;
    const send = stream._send;
    stream._send = (message, packet) => {
      send.call(stream, message, packet);
      // coap-packet's generator has just assigned the id (its counter, shared with every message).
      this.#lastMessageId = packet.messageId;
    };
    stream.on('finish', () => this.close('the observe stream ended (reset, or no acknowledgement)'));
    stream.on('error', (error: Error) => this.close(`the observe stream failed: ${error.message}`));
    stream.statusCode = '2.05';
    this.#write(Buffer.alloc(0));
    this.#unsubscribe = this.#commands.subscribe(this.sensorId, (command) => {
      if (this.#closed) return;
      this.#queue.push(command);
      this.#sendNext();
    });
    if (this.#closed) this.#unsubscribe();
  }

  /** An empty ACK or RST from the sensor's session; true when it answered the notification in flight. */
  answered(kind: 'ack' | 'reset', messageId: number): boolean {
    const inFlight = this.#inFlight;
    if (this.#closed || inFlight?.messageId !== messageId) return false;
    if (kind === 'reset') {
      this.close('the sensor reset a notification');
      return true;
    }
    clearTimeout(inFlight.timer);
    if (inFlight.szx === undefined) {
      this.#delivered(inFlight);
      return true;
    }
    // The first block arrived: the sensor fetches the others (GET /commands with Block2).
    inFlight.messageId = undefined;
    this.#awaitBlocks(inFlight);
    return true;
  }

  /**
   * A GET /commands with Block2 from the sensor's session: that block of the command being sent
   * block-wise, or undefined when there is none (or no such block). The last block delivers it.
   */
  block(requested: BlockOption): CommandBlock | undefined {
    const inFlight = this.#inFlight;
    if (this.#closed || inFlight?.szx === undefined) return undefined;
    const payload = inFlight.command.payload;
    // The block starts at num × the size asked for; a size over ours is answered with ours (RFC 7959 §2.4).
    const offset = requested.num * blockSize(requested);
    const szx = Math.min(requested.szx, this.#szx);
    const size = blockSize({ num: 0, more: false, szx });
    if (offset >= payload.length) return undefined;
    const more = offset + size < payload.length;
    const block: CommandBlock = {
      payload: Buffer.from(payload.subarray(offset, offset + size)),
      block2: { num: offset / size, more, szx },
      size2: payload.length,
      etag: inFlight.etag,
      contentFormat: inFlight.command.contentFormat,
    };
    clearTimeout(inFlight.timer);
    if (more) this.#awaitBlocks(inFlight);
    // After the reply: the next command's notification follows the last block's answer.
    else setImmediate(() => this.#inFlight === inFlight && this.#delivered(inFlight));
    return block;
  }

  /** Ends the observation: unsubscribes, ends the observe stream (sending nothing more). */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#inFlight) clearTimeout(this.#inFlight.timer);
    this.#inFlight = undefined;
    this.#queue.length = 0;
    this.#unsubscribe?.();
    if (!this.#stream.writableEnded) this.#stream.end();
    this.#onClose(this, reason);
  }

  #delivered(inFlight: InFlight): void {
    clearTimeout(inFlight.timer);
    this.#inFlight = undefined;
    this.#counters.commandsDelivered++;
    this.#commands.delivered(this.sensorId, inFlight.command.id);
    this.#sendNext();
  }

  /** Waits for the sensor's next Block2 GET; without one, the command is passed over. */
  #awaitBlocks(inFlight: InFlight): void {
    inFlight.timer = setTimeout(() => {
      if (this.#inFlight !== inFlight) return;
      this.#inFlight = undefined;
      this.#counters.commandsSkipped++;
      this.#sendNext();
    }, this.#ackTimeoutMs);
    inFlight.timer.unref();
  }

  #sendNext(): void {
    if (this.#closed || this.#inFlight) return;
    const now = this.#now().getTime();
    let command: CommandMessage | undefined;
    for (command = this.#queue.shift(); command; command = this.#queue.shift()) {
      // A command that expired while waiting is not sent: its sender gave up on it.
      if (command.expiresAt.getTime() <= now) continue;
      if (command.payload.length <= MAX_COMMAND_PAYLOAD_BYTES) break;
      this.#counters.commandsSkipped++;
    }
    if (!command) return;
    const stream = this.#stream;
    const maxBlock = blockSize({ num: 0, more: false, szx: this.#szx });
    const blockwise = command.payload.length > maxBlock;
    // Lets a sensor recognise a command sent again after its ACK was lost, and tie its blocks together.
    const etag = createHash('sha256').update(command.id).digest().subarray(0, 8);
    stream._packet.confirmable = true;
    stream._packet.ack = false;
    stream._packet.options = (stream._packet.options ?? []).filter(
      (option) => option.name !== 'Block2' && option.name !== 'Size2',
    );
    stream.setOption('Content-Format', command.contentFormat);
    stream.setOption('ETag', etag);
    if (blockwise) {
      stream.setOption('Block2', blockOptionValue({ num: 0, more: true, szx: this.#szx }));
      stream.setOption('Size2', command.payload.length);
    }
    const messageId = this.#write(Buffer.from(command.payload.subarray(0, blockwise ? maxBlock : undefined)));
    if (messageId === undefined) {
      this.close('the notification was not sent');
      return;
    }
    this.#counters.commandsSent++;
    if (blockwise) this.#counters.commandsSentBlockwise++;
    const timer = setTimeout(() => this.close('no acknowledgement for a notification'), this.#ackTimeoutMs);
    timer.unref();
    this.#inFlight = { command, etag, messageId, timer, ...(blockwise ? { szx: this.#szx } : {}) };
  }

  /** Writes one notification; the message id it was sent with. */
  #write(payload: Buffer): number | undefined {
    this.#lastMessageId = undefined;
    this.#stream.write(payload);
    return this.#lastMessageId;
  }
}
