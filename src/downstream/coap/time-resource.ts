import { encodeCbor } from './cbor-encoder.js';
import type { CoapResource } from './coap-resource.js';
import { CONTENT_FORMAT, contentFormatNumber } from './content-format.js';
import type { Link } from './link-format.js';
import type { ResponseOptions } from './option-values.js';
import type { SensorExchange } from './sensor-exchange.js';

/**
 * GET /time: the gateway's clock, for sensors without one (to stamp readings, or to judge
 * certificate validity): `{"unix_ms": …, "iso": "…"}` as JSON, or the same map in CBOR when the
 * Accept option asks for 60. Max-Age 0: a cached time is a wrong time.
 */
export class TimeResource implements CoapResource {
  readonly path = '/time';
  readonly link: Link = {
    href: '/time',
    resourceTypes: ['gateway.time'],
    contentFormats: [CONTENT_FORMAT.json, CONTENT_FORMAT.cbor],
  };
  readonly methods = ['GET'];
  readonly takesBlock1 = false;
  readonly #now: () => Date;
  /**
   * The last body of each format and the millisecond it tells: under load many GETs fall in one
   * millisecond and share it (its encoding was 5 % of the daemon's busy time under GET load).
   */
  readonly #json: EncodedTime = { ms: Number.NaN, body: Buffer.alloc(0) };
  readonly #cbor: EncodedTime = { ms: Number.NaN, body: Buffer.alloc(0) };

  constructor(now: () => Date) {
    this.#now = now;
  }

  handle(exchange: SensorExchange): void {
    const accept = exchange.request.accept;
    const format = accept === undefined ? CONTENT_FORMAT.json : contentFormatNumber(accept);
    if (format !== CONTENT_FORMAT.json && format !== CONTENT_FORMAT.cbor) {
      exchange.refuse('4.06', 'GET /time answers application/json (50) or application/cbor (60)');
      return;
    }
    const now = this.#now();
    const ms = now.getTime();
    const encoded = format === CONTENT_FORMAT.json ? this.#json : this.#cbor;
    if (encoded.ms !== ms) {
      const time = { unix_ms: ms, iso: now.toISOString() };
      encoded.body = format === CONTENT_FORMAT.json ? Buffer.from(JSON.stringify(time)) : encodeCbor(time);
      encoded.ms = ms;
    }
    exchange.reply('2.05', encoded.body, format === CONTENT_FORMAT.json ? JSON_OPTIONS : CBOR_OPTIONS);
  }
}

/** The answer's options, one object per format (read, never changed, by the session). */
const JSON_OPTIONS: Readonly<ResponseOptions> = Object.freeze({
  contentFormat: CONTENT_FORMAT.json,
  maxAge: 0,
});
const CBOR_OPTIONS: Readonly<ResponseOptions> = Object.freeze({
  contentFormat: CONTENT_FORMAT.cbor,
  maxAge: 0,
});

interface EncodedTime {
  ms: number;
  body: Buffer;
}
