import type { TelemetrySink } from '../proxy-ports.js';
import type { BlockOption } from './block-option.js';
import type { Block1Assembler } from './block1-assembler.js';
import { cborProblem } from './cbor-problem.js';
import type { CoapCounters } from './coap-counters.js';
import type { CoapResource } from './coap-resource.js';
import { CONTENT_FORMAT, contentFormatNumber } from './content-format.js';
import { type DeliveredKey, DeliveredTelemetry } from './delivered-telemetry.js';
import { jsonProblem } from './json-problem.js';
import type { Link } from './link-format.js';
import type { SensorExchange } from './sensor-exchange.js';

interface Log {
  warn(fields: object, message: string): void;
}

/**
 * POST /telemetry: a sensor's reading, JSON (50) or CBOR (60), checked to parse, at most
 * `maxBytes` (block-wise above one datagram), handed to the TelemetrySink. 2.04 only once the sink
 * says the message is durable; 5.03 with Max-Age when its outbox refuses; 5.00 when it fails.
 */
export class TelemetryResource implements CoapResource {
  readonly path = '/telemetry';
  readonly link: Link = {
    href: '/telemetry',
    resourceTypes: ['gateway.telemetry'],
    contentFormats: [CONTENT_FORMAT.json, CONTENT_FORMAT.cbor],
  };
  readonly methods = ['POST'];
  readonly takesBlock1 = true;
  readonly #sink: TelemetrySink;
  readonly #assembler: Block1Assembler;
  readonly #maxBytes: number;
  readonly #counters: CoapCounters;
  readonly #log: Log;
  readonly #now: () => Date;
  readonly #delivered: DeliveredTelemetry;

  constructor(options: {
    sink: TelemetrySink;
    assembler: Block1Assembler;
    maxBytes: number;
    counters: CoapCounters;
    log: Log;
    now: () => Date;
    delivered: DeliveredTelemetry;
  }) {
    this.#sink = options.sink;
    this.#assembler = options.assembler;
    this.#maxBytes = options.maxBytes;
    this.#counters = options.counters;
    this.#log = options.log;
    this.#now = options.now;
    this.#delivered = options.delivered;
  }

  handle(exchange: SensorExchange): void {
    const request = exchange.request;
    const format = contentFormatNumber(request.contentFormat);
    if (format !== CONTENT_FORMAT.json && format !== CONTENT_FORMAT.cbor) {
      exchange.refuse(
        '4.15',
        'POST /telemetry takes Content-Format 50 (application/json) or 60 (application/cbor)',
      );
      return;
    }
    const size1 = request.size1;
    const block = request.block1;
    if (block === null) {
      exchange.refuse('4.00', 'malformed Block1 option (longer than 3 bytes, or SZX 7: BERT is for TCP)');
      return;
    }
    let body = request.payload;
    if (block) {
      const outcome = this.#assembler.add(
        exchange.peer,
        `${request.requestTag} ${exchange.path}`,
        block,
        request.payload,
        format,
        size1,
      );
      switch (outcome.kind) {
        case 'continue':
          exchange.reply('2.31', undefined, { block1: block });
          return;
        case 'too-large':
          this.#tooLarge(exchange);
          return;
        case 'incomplete':
          exchange.refuse('4.08', outcome.reason);
          return;
        case 'bad':
          exchange.refuse('4.00', outcome.reason);
          return;
        case 'complete':
          body = outcome.body;
      }
    } else if (body.length > this.#maxBytes || (size1 ?? 0) > this.#maxBytes) {
      this.#tooLarge(exchange);
      return;
    }
    const problem = format === CONTENT_FORMAT.json ? jsonProblem(body) : cborProblem(body);
    if (problem) {
      exchange.refuse(
        '4.00',
        `the body is not ${format === CONTENT_FORMAT.json ? 'JSON' : 'CBOR'}: ${problem}`,
      );
      return;
    }
    // A single-datagram message the sensor sends again over a new session (it reconnected before it
    // saw our 2.04): answered as before, not stored twice. Block-wise bodies are not tracked.
    const messageId = block ? undefined : exchange.request.messageId;
    const key = messageId === undefined ? undefined : DeliveredTelemetry.keyOf(messageId, body);
    if (key !== undefined && this.#delivered.has(exchange.sensor.sha256, key)) {
      this.#counters.telemetryAlreadyStored++;
      exchange.reply('2.04');
      return;
    }
    this.#store(exchange, format, body, block, key);
  }

  #store(
    exchange: SensorExchange,
    format: 50 | 60,
    body: Buffer,
    block: BlockOption | undefined,
    deliveredKey: DeliveredKey | undefined,
  ): void {
    this.#sink
      .accept({
        sensorId: exchange.sensorId,
        sensor: exchange.sensor,
        contentFormat: format,
        payload: body,
        receivedAt: this.#now(),
      })
      .then(
        (refusal) => {
          if (refusal?.full) {
            const what =
              refusal.reason === 'sensor-share'
                ? "this sensor's share of the gateway's outbox is full"
                : "the gateway's outbox is full";
            exchange.refuse('5.03', `${what}: retry in ${refusal.retryAfterSeconds} s`, {
              maxAge: refusal.retryAfterSeconds,
            });
            return;
          }
          this.#counters.telemetryAccepted++;
          this.#counters.telemetryBytes += body.length;
          if (deliveredKey !== undefined) this.#delivered.remember(exchange.sensor.sha256, deliveredKey);
          // The final block's answer echoes its Block1 without "more" (RFC 7959 §2.3).
          exchange.reply('2.04', undefined, block ? { block1: { ...block, more: false } } : {});
        },
        (error: unknown) => {
          this.#log.warn(
            { sensorId: exchange.sensorId, error: String(error) },
            'telemetry refused: the sink failed',
          );
          exchange.refuse('5.00', 'the gateway could not store the telemetry');
        },
      )
      .catch((error: unknown) =>
        this.#log.warn({ sensorId: exchange.sensorId, error: String(error) }, 'telemetry answer not sent'),
      );
  }

  #tooLarge(exchange: SensorExchange): void {
    // Size1 in a 4.13 says how large a body the server takes (RFC 7959 §4).
    exchange.refuse('4.13', `the body is over ${this.#maxBytes} bytes`, { size1: this.#maxBytes });
  }
}
