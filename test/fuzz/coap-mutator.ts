import { encodeCbor } from '../../hw-sim/sensors/index.js';
import { blockOption, COAP_OPTION, COAP_TYPE, type CoapOption, encodeCoap, uintOption } from './coap-wire.js';
import type { Prng } from './prng.js';

/**
 * Input family 2: CoAP messages (RFC 7252, 7641, 7959) for the fuzz sensor's established session.
 * Built from their structure — type, code, message id, token, options (Uri-Path, Content-Format,
 * Accept, Observe, Block1/Block2, Size1, unknown critical and elective ones, extended deltas and
 * lengths), payloads (telemetry in JSON and CBOR, valid and broken) — then, now and then, broken
 * at the byte level. Some inputs are block-wise transfers: several messages of one body.
 */

const PATHS: readonly string[][] = [
  ['telemetry'],
  ['time'],
  ['commands'],
  ['.well-known', 'core'],
  ['firmware'],
  [],
  ['telemetry', 'x'],
  ['..'],
  ['%00'],
];
const CODES: readonly (readonly [number, number])[] = [
  [0x02, 8], // POST
  [0x01, 6], // GET
  [0x03, 1], // PUT
  [0x04, 1], // DELETE
  [0x05, 1], // FETCH
  [0x06, 0.5], // PATCH
  [0x07, 0.5], // iPATCH
  [0x00, 0.5], // empty
  [0x45, 0.5], // 2.05 (a response where a request belongs)
  [0xe0, 0.3], // 7.00 (a reserved class)
];
const CONTENT_FORMATS = [50, 60, 0, 40, 41, 42, 47, 110, 112, 11542, 65535, 65536];

export interface CoapInput {
  /** Messages to send in order over the session. */
  messages: Buffer[];
  what: string;
}

export class CoapMutator {
  readonly #sensor: string;
  #messageId: number;
  #seq = 0;

  constructor(sensorName: string, prng: Prng) {
    this.#sensor = sensorName;
    this.#messageId = prng.below(0x10000);
  }

  next(prng: Prng): CoapInput {
    if (prng.chance(0.1)) return this.#blockwise(prng);
    const type = prng.weighted<number>([
      [COAP_TYPE.CON, 6],
      [COAP_TYPE.NON, 3],
      [COAP_TYPE.ACK, 0.5],
      [COAP_TYPE.RST, 0.5],
    ]);
    const code = prng.weighted(CODES);
    const path = prng.chance(0.9) ? prng.pick(PATHS) : [prng.bytes(prng.below(300)).toString('latin1')];
    const options: CoapOption[] = path.map((segment) => ({
      number: COAP_OPTION.URI_PATH,
      value: Buffer.from(segment, 'latin1'),
    }));
    const steps: string[] = [`${code.toString(16)} /${path.join('/')}`];
    const body = prng.chance(code === 0x02 ? 0.9 : 0.2) ? this.#payload(prng) : undefined;
    if (body) {
      steps.push(body.what);
      if (body.contentFormat !== undefined)
        options.push({ number: COAP_OPTION.CONTENT_FORMAT, value: uintOption(body.contentFormat) });
    }
    const extra = prng.weighted([
      [0, 4],
      [1, 3],
      [2, 2],
      [5, 1],
    ]);
    for (let i = 0; i < extra; i++) {
      const option = this.#option(prng);
      steps.push(`opt${option.number}`);
      options.push(option);
    }
    const token = prng.bytes(
      prng.weighted([
        [0, 1],
        [1, 1],
        [4, 3],
        [8, 2],
      ]),
    );
    let bytes = encodeCoap({
      version: prng.chance(0.02) ? prng.below(4) : 1,
      type,
      code,
      messageId: this.#nextMessageId(prng),
      token,
      options,
      payload: body ? body.bytes : prng.chance(0.02) ? Buffer.alloc(0) : undefined,
      tokenLengthNibble: prng.chance(0.02) ? prng.range(9, 15) : undefined,
      sortOptions: !prng.chance(0.05),
    });
    if (prng.chance(0.1)) {
      bytes = breakBytes(prng, bytes);
      steps.push('bytes');
    }
    return { messages: [bytes], what: steps.join(' ') };
  }

  /** A Block1 upload of a telemetry body: in order or not, sizes changing, numbers out of range. */
  #blockwise(prng: Prng): CoapInput {
    const body = this.#payload(prng);
    const szx = prng.weighted([
      [prng.below(7), 5],
      [7, 0.5],
    ]);
    const size = 2 ** (szx + 4);
    const blocks = Math.max(1, Math.ceil(body.bytes.length / size));
    const token = prng.bytes(prng.range(1, 8));
    const messages: Buffer[] = [];
    const order = [...Array(Math.min(blocks, 16)).keys()];
    if (prng.chance(0.2)) order.reverse();
    if (prng.chance(0.2)) order.splice(prng.below(order.length), 1);
    const block2 = prng.chance(0.2);
    for (const index of order) {
      const num = prng.chance(0.05) ? prng.edgy(20) : index;
      const more = prng.chance(0.05) ? prng.chance(0.5) : index < blocks - 1;
      const options: CoapOption[] = [
        { number: COAP_OPTION.URI_PATH, value: Buffer.from('telemetry') },
        {
          number: block2 ? COAP_OPTION.BLOCK2 : COAP_OPTION.BLOCK1,
          value: blockOption(num, more, prng.chance(0.05) ? prng.below(8) : szx),
        },
      ];
      if (body.contentFormat !== undefined)
        options.push({ number: COAP_OPTION.CONTENT_FORMAT, value: uintOption(body.contentFormat) });
      if (index === 0 && prng.chance(0.5))
        options.push({
          number: COAP_OPTION.SIZE1,
          value: uintOption(prng.chance(0.7) ? body.bytes.length : prng.edgy(32)),
        });
      messages.push(
        encodeCoap({
          type: prng.chance(0.8) ? COAP_TYPE.CON : COAP_TYPE.NON,
          code: 0x02,
          messageId: this.#nextMessageId(prng),
          token: prng.chance(0.9) ? token : prng.bytes(4),
          options,
          payload: body.bytes.subarray(index * size, (index + 1) * size),
        }),
      );
    }
    return { messages, what: `block${block2 ? 2 : 1} szx${szx} ${messages.length}/${blocks} ${body.what}` };
  }

  #nextMessageId(prng: Prng): number {
    // Mostly new ids; sometimes a recent one again (a duplicate the server must recognise).
    if (prng.chance(0.05)) return (this.#messageId - prng.below(4)) & 0xffff;
    this.#messageId = (this.#messageId + 1) & 0xffff;
    return this.#messageId;
  }

  #option(prng: Prng): CoapOption {
    const kind = prng.weighted<string>([
      ['observe', 3],
      ['contentFormat', 2],
      ['accept', 1],
      ['block1', 3],
      ['block2', 3],
      ['size1', 1],
      ['maxAge', 0.5],
      ['query', 1],
      ['etag', 0.5],
      ['ifMatch', 0.5],
      ['ifNoneMatch', 0.3],
      ['uriHost', 0.5],
      ['proxyUri', 0.5],
      ['noResponse', 0.5],
      ['critical', 1],
      ['elective', 1],
      ['long', 0.5],
    ]);
    switch (kind) {
      case 'observe':
        return {
          number: COAP_OPTION.OBSERVE,
          value: prng.chance(0.9)
            ? uintOption(prng.pick([0, 1, prng.edgy(24)]))
            : prng.bytes(prng.range(4, 8)),
        };
      case 'contentFormat':
        return {
          number: COAP_OPTION.CONTENT_FORMAT,
          value: prng.chance(0.9) ? uintOption(prng.pick(CONTENT_FORMATS)) : prng.bytes(prng.range(3, 5)),
        };
      case 'accept':
        return { number: COAP_OPTION.ACCEPT, value: uintOption(prng.pick(CONTENT_FORMATS)) };
      case 'block1':
      case 'block2':
        return {
          number: kind === 'block1' ? COAP_OPTION.BLOCK1 : COAP_OPTION.BLOCK2,
          value: prng.chance(0.9)
            ? blockOption(prng.edgy(20), prng.chance(0.5), prng.below(8))
            : prng.bytes(prng.range(4, 6)),
        };
      case 'size1':
        return { number: COAP_OPTION.SIZE1, value: uintOption(prng.edgy(32)) };
      case 'maxAge':
        return { number: COAP_OPTION.MAX_AGE, value: uintOption(prng.edgy(32)) };
      case 'query':
        return {
          number: COAP_OPTION.URI_QUERY,
          value: Buffer.from(prng.pick(['a=1', '', 'rt=core', '='.repeat(prng.below(300))])),
        };
      case 'etag':
        return { number: COAP_OPTION.ETAG, value: prng.bytes(prng.below(12)) };
      case 'ifMatch':
        return { number: COAP_OPTION.IF_MATCH, value: prng.bytes(prng.below(10)) };
      case 'ifNoneMatch':
        return { number: COAP_OPTION.IF_NONE_MATCH, value: prng.bytes(prng.below(2)) };
      case 'uriHost':
        return {
          number: COAP_OPTION.URI_HOST,
          value: Buffer.from(prng.pick(['localhost', '127.0.0.1', '', 'x'.repeat(300)])),
        };
      case 'proxyUri':
        return {
          number: prng.chance(0.5) ? COAP_OPTION.PROXY_URI : COAP_OPTION.PROXY_SCHEME,
          value: Buffer.from(prng.pick(['coap://127.0.0.1/time', 'http://x', ''])),
        };
      case 'noResponse':
        return { number: COAP_OPTION.NO_RESPONSE, value: uintOption(prng.below(256)) };
      case 'critical':
        return { number: prng.pick([9, 13, 25, 2049, 65001]), value: prng.bytes(prng.below(8)) };
      case 'elective':
        return { number: prng.pick([2, 10, 2050, 65000]), value: prng.bytes(prng.below(8)) };
      default:
        return { number: prng.below(65536), value: prng.bytes(prng.pick([13, 268, 269, 1000])) };
    }
  }

  #payload(prng: Prng): { bytes: Buffer; contentFormat: number | undefined; what: string } {
    this.#seq++;
    const reading = { sensor: this.#sensor, seq: this.#seq, ts: Date.now(), temperature: 21.5, humidity: 40 };
    const kind = prng.weighted<string>([
      ['json', 3],
      ['badJson', 3],
      ['cbor', 3],
      ['badCbor', 3],
      ['random', 1],
      ['big', 0.3],
    ]);
    const contentFormat = prng.chance(0.9)
      ? kind.toLowerCase().includes('cbor')
        ? 60
        : kind.toLowerCase().includes('json')
          ? 50
          : prng.pick(CONTENT_FORMATS)
      : prng.chance(0.5)
        ? undefined
        : prng.pick(CONTENT_FORMATS);
    let bytes: Buffer;
    switch (kind) {
      case 'json':
        bytes = Buffer.from(JSON.stringify(reading));
        break;
      case 'badJson':
        bytes = Buffer.from(badJson(prng, reading));
        break;
      case 'cbor':
        bytes = Buffer.from(encodeCbor({ ...reading }));
        break;
      case 'badCbor':
        bytes = badCbor(prng, Buffer.from(encodeCbor({ ...reading })));
        break;
      case 'big':
        bytes = prng.bytes(prng.pick([1024, 1025, 4096, 65_000]));
        break;
      default:
        bytes = prng.bytes(prng.below(200));
    }
    return { bytes, contentFormat, what: `${kind}/${contentFormat ?? '-'}` };
  }
}

function badJson(prng: Prng, reading: Record<string, unknown>): string {
  const variants: (() => string)[] = [
    () => JSON.stringify({ ...reading, seq: prng.pick([-1, 1.5, 2 ** 53, '7', null, 1e308]) }),
    () =>
      JSON.stringify({
        ...reading,
        sensor: prng.pick(['', 'other-sensor', 'x'.repeat(5000), '\u0000', '\ud800']),
      }),
    () =>
      JSON.stringify({ ...reading, ts: prng.pick([-1, 'now', null, 1e300, Number.MAX_SAFE_INTEGER + 2]) }),
    () => JSON.stringify({ sensor: reading.sensor }),
    () =>
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},' +
      JSON.stringify(reading).slice(1),
    () => `${'['.repeat(prng.pick([100, 1000, 10_000]))}${']'.repeat(prng.chance(0.5) ? 0 : 10)}`,
    () => JSON.stringify(reading).slice(0, prng.below(40)),
    () => `{"seq":1,"seq":2,${JSON.stringify(reading).slice(1)}`,
    () => JSON.stringify([reading, reading]),
    () => prng.pick(['null', 'true', '0', '""', '{}', '[]', '\ufeff{}', '{"a":1}garbage']),
    () => JSON.stringify({ ...reading, extra: 'y'.repeat(prng.below(2000)) }),
  ];
  return prng.pick(variants)();
}

/** Hand-made CBOR (RFC 8949) a decoder can trip on. */
function badCbor(prng: Prng, valid: Buffer): Buffer {
  const variants: (() => Buffer)[] = [
    () => valid.subarray(0, prng.below(valid.length)),
    () => Buffer.concat([valid, prng.bytes(prng.range(1, 8))]),
    () => Buffer.alloc(prng.pick([10, 100, 1000, 10_000]), 0x81), // deep nesting of one-element arrays
    () => Buffer.from([0x9f, 0x9f, 0x9f, 0xff]), // unfinished indefinite arrays
    () => Buffer.from([0xbf, 0x61, 0x61, 0x01, 0xff]), // indefinite map
    () => Buffer.from([0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // 2^64-1-byte string
    () => Buffer.from([0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]), // 2^32-element array
    () => Buffer.from([0xba, 0x7f, 0xff, 0xff, 0xff]), // huge map
    () => Buffer.from([0x1f]), // reserved additional info
    () => Buffer.from([0xff]), // a lone break
    () => Buffer.from([0xc0 | prng.below(24), ...valid]), // a tag around it
    () => Buffer.from([0xd9, 0xd9, 0xf7, ...valid]), // self-described CBOR
    () => Buffer.from([0xf9, 0x7c, 0x00]), // half-float infinity
    () => Buffer.from([0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), // NaN
    () => Buffer.from([0xa1, 0x63, 0x73, 0x65, 0x71, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // seq: 2^64-1
    () => Buffer.from([0x7f, 0x61, 0x61, 0x41, 0x62, 0xff]), // indefinite text with a byte-string chunk
    () => Buffer.from([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]), // duplicate keys
    () => Buffer.from([0x62, 0xc3, 0x28]), // invalid UTF-8 text
    () => Buffer.from([0xa1, 0xa0, 0x01]), // a map as a key
    () => breakBytes(prng, Buffer.from(valid)),
  ];
  return prng.pick(variants)();
}

function breakBytes(prng: Prng, bytes: Buffer): Buffer {
  switch (prng.below(4)) {
    case 0:
      return bytes.subarray(0, prng.below(bytes.length + 1));
    case 1: {
      const at = prng.below(bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), prng.bytes(prng.range(1, 16)), bytes.subarray(at)]);
    }
    default: {
      const copy = Buffer.from(bytes);
      const flips = prng.range(1, 4);
      for (let i = 0; i < flips && copy.length > 0; i++) copy[prng.below(copy.length)] = prng.below(256);
      return copy;
    }
  }
}
