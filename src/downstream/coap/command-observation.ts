import { createHash } from 'node:crypto';
import type coap from 'coap';
import type { CommandMessage, CommandSource } from '../proxy-ports.js';
import type { CoapCounters } from './coap-counters.js';

/**
 * One sensor observing /commands (RFC 7641): its commands go out one at a time as confirmable
 * notifications on node-coap's observe stream, and a command counts as delivered only when the
 * sensor acknowledges its notification — then the next one goes. node-coap retransmits it and ends
 * the stream on a RST; a notification still unacknowledged after MAX_TRANSMIT_WAIT ends the
 * observation too (RFC 7641 §4.5: the sensor is gone). Commands not acknowledged stay with the
 * CommandSource for the next registration.
 *
 * Two things node-coap's ObserveWriteStream does not offer are added on the stream itself:
 * - notifications are confirmable even when the registration was not (it copies the request's type,
 *   and for a NON registration would even send notifications typed ACK);
 * - the message id node-coap gives each notification, read off its send path, which is how the
 *   sensor's empty ACK is matched to the command.
 */
export class CommandObservation {
  readonly sensorId: string;
  /** "address:port" of the sensor's DTLS session. */
  readonly peer: string;
  /** The registration's token, hex: a deregistration (Observe: 1) names the same one. */
  readonly token: string;
  readonly #stream: coap.ObserveWriteStream;
  readonly #commands: CommandSource;
  readonly #counters: CoapCounters;
  readonly #now: () => Date;
  readonly #ackTimeoutMs: number;
  readonly #onClose: (observation: CommandObservation, reason: string) => void;
  readonly #queue: CommandMessage[] = [];
  #inFlight: { command: CommandMessage; messageId: number; timer: NodeJS.Timeout } | undefined;
  #unsubscribe: (() => void) | undefined;
  #lastMessageId: number | undefined;
  #closed = false;

  constructor(options: {
    stream: coap.ObserveWriteStream;
    sensorId: string;
    peer: string;
    token: string;
    commands: CommandSource;
    counters: CoapCounters;
    now: () => Date;
    /** How long a notification may wait for its ACK before the sensor is taken as gone (MAX_TRANSMIT_WAIT). */
    ackTimeoutMs: number;
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
      // node-coap's packet generator has just assigned the id (its counter, shared with every reply).
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
    this.#inFlight = undefined;
    this.#counters.commandsDelivered++;
    this.#commands.delivered(this.sensorId, inFlight.command.id);
    this.#sendNext();
    return true;
  }

  /** Ends the observation: unsubscribes, ends node-coap's stream (sending nothing more). */
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

  #sendNext(): void {
    if (this.#closed || this.#inFlight) return;
    let command = this.#queue.shift();
    // A command that expired while waiting is not sent: its sender gave up on it.
    while (command && command.expiresAt.getTime() <= this.#now().getTime()) command = this.#queue.shift();
    if (!command) return;
    const stream = this.#stream;
    stream._packet.confirmable = true;
    stream._packet.ack = false;
    stream.setOption('Content-Format', command.contentFormat);
    // Lets a sensor recognise a command sent again after its ACK was lost.
    stream.setOption('ETag', createHash('sha256').update(command.id).digest().subarray(0, 8));
    const messageId = this.#write(Buffer.from(command.payload));
    if (messageId === undefined) {
      this.close('node-coap did not send the notification');
      return;
    }
    this.#counters.commandsSent++;
    const timer = setTimeout(() => this.close('no acknowledgement for a notification'), this.#ackTimeoutMs);
    timer.unref();
    this.#inFlight = { command, messageId, timer };
  }

  /** Writes one notification; the message id node-coap sent it with. */
  #write(payload: Buffer): number | undefined {
    this.#lastMessageId = undefined;
    this.#stream.write(payload);
    return this.#lastMessageId;
  }
}
