import type { CommandSource } from '../proxy-ports.js';
import type { BlockOption } from './block-option.js';
import type { CoapCounters } from './coap-counters.js';
import type { CoapResource } from './coap-resource.js';
import { CommandObservation, type ObserveStream } from './command-observation.js';
import { CONTENT_FORMAT } from './content-format.js';
import type { EmptyMessage } from './empty-message.js';
import type { Link } from './link-format.js';
import type { SensorExchange } from './sensor-exchange.js';

interface Log {
  debug(fields: object, message: string): void;
}

/**
 * GET /commands with Observe: 0 registers the sensor for its commands (one CommandObservation per
 * sensor: a new registration replaces the old one, from whichever session). It is deregistered by a
 * GET with Observe: 1 and the registration's token, by a RST of a notification, when a notification
 * goes unacknowledged, or when its DTLS session ends. A GET with Block2 (block 1 on) fetches the rest
 * of a command sent block-wise to the session's observation.
 */
export class CommandsResource implements CoapResource {
  readonly path = '/commands';
  readonly link: Link = {
    href: '/commands',
    resourceTypes: ['gateway.commands'],
    contentFormats: [
      CONTENT_FORMAT.textPlain,
      CONTENT_FORMAT.octetStream,
      CONTENT_FORMAT.json,
      CONTENT_FORMAT.cbor,
    ],
    observable: true,
  };
  readonly methods = ['GET'];
  readonly takesBlock1 = false;
  readonly servesBlock2 = true;
  readonly #commands: CommandSource;
  readonly #counters: CoapCounters;
  readonly #log: Log;
  readonly #now: () => Date;
  readonly #ackTimeoutMs: number;
  readonly #szx: number;
  readonly #bySensor = new Map<string, CommandObservation>();
  readonly #byPeer = new Map<string, CommandObservation>();

  constructor(options: {
    commands: CommandSource;
    counters: CoapCounters;
    log: Log;
    now: () => Date;
    ackTimeoutMs: number;
    /** SZX of the largest command block that fits one datagram (largestBlockSzx of the DTLS MTU). */
    szx: number;
  }) {
    this.#commands = options.commands;
    this.#counters = options.counters;
    this.#log = options.log;
    this.#now = options.now;
    this.#ackTimeoutMs = options.ackTimeoutMs;
    this.#szx = options.szx;
  }

  /** Sensors observing now. */
  get observers(): number {
    return this.#bySensor.size;
  }

  handle(exchange: SensorExchange): void {
    const observe = exchange.request.observe;
    const token = exchange.request.tokenHex;
    const block2 = exchange.request.block2;
    if (block2 && block2.num > 0) {
      this.#serveBlock(exchange, block2);
      return;
    }
    const channel = observe === 0 ? exchange.response.observe() : undefined;
    if (channel) {
      this.#register(exchange, channel, token);
      return;
    }
    const current = this.#byPeer.get(exchange.peer);
    if (observe === 1 && current?.token === token) current.close('deregistered (Observe: 1)');
    exchange.reply('2.05', 'commands are sent as notifications: GET /commands with Observe: 0', {
      contentFormat: CONTENT_FORMAT.textPlain,
    });
  }

  #serveBlock(exchange: SensorExchange, requested: BlockOption): void {
    const block = this.#byPeer.get(exchange.peer)?.block(requested);
    if (!block) {
      exchange.refuse('4.02', `no block ${requested.num} of a command being sent block-wise`);
      return;
    }
    exchange.reply('2.05', block.payload, {
      contentFormat: block.contentFormat,
      etag: block.etag,
      block2: block.block2,
      size2: block.size2,
    });
  }

  /** An empty ACK or RST: it may answer a command notification. */
  answered(message: EmptyMessage): void {
    this.#byPeer.get(message.peer)?.answered(message.kind, message.messageId);
  }

  /** The DTLS session ended: its observation cannot receive anything more. */
  sessionEnded(peer: string): void {
    this.#byPeer.get(peer)?.close('the DTLS session ended');
  }

  close(): void {
    for (const observation of [...this.#bySensor.values()]) observation.close('the endpoint is closing');
  }

  #register(exchange: SensorExchange, stream: ObserveStream, token: string): void {
    this.#bySensor.get(exchange.sensorId)?.close('replaced by a new registration');
    this.#byPeer.get(exchange.peer)?.close('replaced by a new registration');
    const observation = new CommandObservation({
      stream,
      sensorId: exchange.sensorId,
      peer: exchange.peer,
      token,
      commands: this.#commands,
      counters: this.#counters,
      now: this.#now,
      ackTimeoutMs: this.#ackTimeoutMs,
      szx: this.#szx,
      onClose: (closed, reason) => {
        if (this.#bySensor.get(closed.sensorId) === closed) this.#bySensor.delete(closed.sensorId);
        if (this.#byPeer.get(closed.peer) === closed) this.#byPeer.delete(closed.peer);
        this.#log.debug(
          { sensorId: closed.sensorId, peer: closed.peer, reason },
          'command observation ended',
        );
      },
    });
    this.#bySensor.set(exchange.sensorId, observation);
    this.#byPeer.set(exchange.peer, observation);
    this.#log.debug({ sensorId: exchange.sensorId, peer: exchange.peer }, 'sensor observes its commands');
    // The registration's 2.05 is written by the observe stream, not through exchange.reply.
    this.#counters.answered('2.05');
    observation.start();
  }
}
