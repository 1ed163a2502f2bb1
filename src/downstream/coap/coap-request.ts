import type { ParsedPacket } from 'coap-packet';
import { type BlockOption, parseBlockOption } from './block-option.js';

/** CoAP method names by request code, as node-coap names them (other codes have none). */
const METHODS: Readonly<Record<string, string>> = {
  '0.01': 'GET',
  '0.02': 'POST',
  '0.03': 'PUT',
  '0.04': 'DELETE',
  '0.05': 'FETCH',
  '0.06': 'PATCH',
  '0.07': 'iPATCH',
};

const OPTION_REQUEST_TAG = 292;

/**
 * One request as the routes read it, decoded once from coap-packet's parse: the options the gateway
 * acts on, with node-coap's conversions (so the routes see what they saw under node-coap): a
 * Content-Format or Accept of 0 to 2 bytes is a number (3 or more: none), Size1 a uint, Observe the
 * sequence number of 0 to 3 bytes (0 otherwise). A repeated option counts once, the last one, as in
 * node-coap's headers. Observe is read only on resources that are observable (RFC 7641 §4.1: a
 * client asking another resource gets a plain answer).
 */
export class CoapRequest {
  readonly code: string;
  /** GET, POST, …; undefined for a code that names no method (as in node-coap). */
  readonly method: string;
  readonly messageId: number;
  readonly token: Buffer;
  readonly confirmable: boolean;
  readonly payload: Buffer;
  /** The Uri-Path segments. */
  readonly segments: string[] = [];
  /** The Uri-Query options, one string each. */
  readonly query: string[] = [];
  contentFormat: number | undefined;
  accept: number | undefined;
  size1: number | undefined;
  /** Observe, on an observable resource only. */
  observe: number | undefined;
  /** Block1: undefined when absent, null when malformed (over 3 bytes, or BERT). */
  block1: BlockOption | null | undefined;
  /** Block2, likewise. */
  block2: BlockOption | null | undefined;
  /** Request-Tag (RFC 9175), hex; "" when absent. */
  requestTag = '';
  /** The DTLS session's identity (DtlsPeer.identity) when the request came. */
  readonly identity: { attributes?: unknown } | undefined;

  constructor(
    packet: ParsedPacket,
    observablePaths: ReadonlySet<string>,
    identity: { attributes?: unknown } | undefined,
  ) {
    this.code = packet.code;
    this.method = METHODS[packet.code] as string;
    this.messageId = packet.messageId;
    this.token = packet.token;
    this.confirmable = packet.confirmable;
    this.payload = packet.payload;
    this.identity = identity;
    let observe: Buffer | undefined;
    for (const option of packet.options) {
      const value = option.value;
      switch (option.name) {
        case 'Uri-Path':
          this.segments.push(value.toString('utf8'));
          break;
        case 'Uri-Query':
          this.query.push(value.toString('utf8'));
          break;
        case 'Content-Format':
          this.contentFormat = mediaType(value);
          break;
        case 'Accept':
          this.accept = mediaType(value);
          break;
        case 'Size1':
          this.size1 = uint(value);
          break;
        case 'Observe':
          observe = value;
          break;
        case 'Block1':
          this.block1 = parseBlockOption(value) ?? null;
          break;
        case 'Block2':
          this.block2 = parseBlockOption(value) ?? null;
          break;
        default:
          if (option.name === OPTION_REQUEST_TAG || option.name === String(OPTION_REQUEST_TAG)) {
            this.requestTag = value.toString('hex');
          }
      }
    }
    if (observe && observablePaths.has(this.pathOrUndefined ?? '')) this.observe = sequence(observe);
  }

  /** The path; undefined when a segment holds a "/" (it would read as two). */
  get pathOrUndefined(): string | undefined {
    for (const segment of this.segments) if (segment.includes('/')) return undefined;
    return `/${this.segments.join('/')}`;
  }

  get tokenHex(): string {
    return this.token.toString('hex');
  }
}

/** node-coap's Content-Format/Accept reading: empty is 0, 1 or 2 bytes a number, longer none. */
function mediaType(value: Buffer): number | undefined {
  if (value.length === 0) return 0;
  if (value.length === 1) return value[0];
  if (value.length === 2) return value.readUInt16BE(0);
  return undefined;
}

function uint(value: Buffer): number {
  let result = 0;
  for (const byte of value) result = 256 * result + byte;
  return result;
}

/** node-coap's Observe reading: 1 to 3 bytes, anything else 0. */
function sequence(value: Buffer): number {
  return value.length >= 1 && value.length <= 3 ? uint(value) : 0;
}
