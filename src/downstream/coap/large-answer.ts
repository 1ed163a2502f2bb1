import type { BlockOption } from './block-option.js';
import type { CoapRequest } from './coap-request.js';
import type { ResponseOptions } from './option-values.js';

/** The largest block: 2^(6+4) bytes (RFC 7959 §2.2); an answer this long or longer goes block-wise. */
export const MAX_BLOCK_BYTES = 1024;
const MAX_SZX = 6;

/** One block of a large answer: what to send and with which options. */
export interface AnswerBlock {
  code: string;
  payload: Buffer;
  options: ResponseOptions;
}

/**
 * An answer too large for one message, sent block-wise (RFC 7959 §2.4, Block2): the first answer
 * carries block 0 with Block2 and an ETag (node-coap's: the payload's 2-byte XOR, which the sensors
 * already saw), and the session keeps the whole answer so that the sensor's GETs for the next blocks
 * (same method, path and query; any token) are served from it without running the route again.
 */
export class LargeAnswer {
  readonly #key: string;
  readonly #code: string;
  readonly #body: Buffer;
  readonly #options: ResponseOptions;

  private constructor(key: string, code: string, body: Buffer, options: ResponseOptions) {
    this.#key = key;
    this.#code = code;
    this.#body = body;
    this.#options = options;
  }

  /** Block 0 of `body` when it is too large for one message (and not already a block), else undefined. */
  static cut(
    request: CoapRequest,
    code: string,
    body: Buffer,
    options: ResponseOptions,
  ): { first: AnswerBlock; answer: LargeAnswer } | undefined {
    if (body.length < MAX_BLOCK_BYTES || options.block2 !== undefined) return undefined;
    const answer = new LargeAnswer(keyOf(request), code, body, { ...options, etag: xorTag(body) });
    const first = answer.block({ num: 0, more: false, szx: MAX_SZX });
    return first ? { first, answer } : undefined;
  }

  /** Whether `request` asks for a later block of this answer. */
  asks(request: CoapRequest): boolean {
    const block2 = request.block2;
    return block2 !== undefined && block2 !== null && block2.num > 0 && keyOf(request) === this.#key;
  }

  /** The block `requested` names (its size at most ours), or undefined when past the end. */
  block(requested: BlockOption): AnswerBlock | undefined {
    const szx = Math.min(requested.szx, MAX_SZX);
    const size = 16 << szx;
    const offset = requested.num * size;
    if (offset >= this.#body.length && offset > 0) return undefined;
    const more = offset + size < this.#body.length;
    return {
      code: this.#code,
      payload: this.#body.subarray(offset, offset + size),
      options: { ...this.#options, block2: { num: requested.num, more, szx } },
    };
  }
}

function keyOf(request: CoapRequest): string {
  return `${request.code} ${request.segments.join('/')}?${request.query.join('&')}`;
}

/** node-coap's ETag for a block-wise answer: each 2-byte pair of the payload XORed together. */
function xorTag(payload: Buffer): Buffer {
  const tag = Buffer.of(0, 0);
  for (let i = 0; i < payload.length; i += 2) {
    tag[0] = (tag[0] as number) ^ (payload[i] as number);
    tag[1] = (tag[1] as number) ^ (payload[i + 1] ?? 0);
  }
  return tag;
}
