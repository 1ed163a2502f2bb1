import type coap from 'coap';
import { type BlockOption, parseBlockOption } from './block-option.js';

type CoapServer = ReturnType<typeof coap.createServer>;

/** An empty ACK or RST from a sensor: the answer to one of the gateway's confirmable messages. */
export interface EmptyMessage {
  kind: 'ack' | 'reset';
  messageId: number;
  /** The DTLS session (CoapSessions' name for it). */
  peer: string;
}

export interface GatewayMiddlewareOptions {
  /** Resources whose GET may carry Observe; the option is taken from requests to any other. */
  observablePaths: ReadonlySet<string>;
  /** The DTLS session this server serves (CoapSessions' name for it). */
  session: string;
  /** Every empty ACK and RST, before node-coap's own handling of it. */
  onEmptyMessage: (message: EmptyMessage) => void;
  /** A message dropped before node-coap's server logic: its token is longer than 8 bytes. */
  onDropped: () => void;
}

/**
 * RFC 7252 §3: a token is 0 to 8 bytes. coap-packet also reads RFC 8974's extended tokens (up to
 * 65,804 bytes), which the gateway does not offer: an answer echoes the token, so a 1,300-byte token
 * made an answer larger than one CoAP message, which node-coap cannot encode (found by npm run fuzz).
 */
const MAX_TOKEN_BYTES = 8;

/** What the middleware withheld from node-coap for one request. */
interface Taken {
  /** The Block1 option; null when its value is malformed (over 3 bytes, or BERT). */
  block1?: BlockOption | null;
  /** The Block2 option, likewise. */
  block2?: BlockOption | null;
  /** Request-Tag (RFC 9175, option 292), hex; "" when absent. */
  requestTag: string;
}

interface ParsedOption {
  name: string | number;
  value: Buffer;
}

interface ParsedPacket {
  code?: string;
  messageId?: number;
  token?: Buffer;
  ack?: boolean;
  reset?: boolean;
  options?: ParsedOption[];
}

const OPTION_REQUEST_TAG = '292';
const taken = new WeakMap<object, Taken>();

/**
 * The gateway's middleware in node-coap's chain, between its parser and its server logic. node-coap
 * reads the chain from `_middlewares` (declared in its typings) for every datagram. It does two things
 * node-coap cannot be asked to do otherwise:
 *
 * 1. It withholds three request options node-coap would act on wrongly here:
 *    - Block1. node-coap 1.5 reassembles Block1 bodies itself, keyed by token; libcoap changes the
 *      token for every block (RFC 7959 allows it; the Request-Tag ties the blocks together), which
 *      node-coap answers with "5.00 Byte offset not the next in line". It would also buffer blocks
 *      without limit before the handler — and so authorization — sees anything. The router
 *      reassembles instead (Block1Assembler); `takenBlock1(request)` says what the option was.
 *    - Block2. node-coap slices any answer to a Block2 request itself, with an ETag of its own; the
 *      blocks of a command must carry the command's ETag, as its first block (the notification) did.
 *      `takenBlock2(request)` says what the option was.
 *    - Observe on a resource that is not observable: node-coap answers any GET with Observe: 0
 *      through an observe stream, whose response carries Observe, so the client would wait for
 *      notifications that never come. Without the option it gets a plain response (RFC 7641 §4.1).
 * 2. It reports empty ACKs and RSTs: node-coap consumes them silently (an ACK stops the
 *    retransmission of a confirmable notification), while a command is delivered only when its
 *    notification is acknowledged.
 */
export function installGatewayMiddleware(server: CoapServer, options: GatewayMiddlewareOptions): void {
  if (!Array.isArray(server._middlewares) || server._middlewares.length < 2) {
    throw new Error('node-coap has no request middleware chain to install the gateway middleware in');
  }
  const middleware = (request: { packet?: ParsedPacket }, next: (error: Error | null) => void) => {
    const packet = request.packet;
    if (packet?.token && packet.token.length > MAX_TOKEN_BYTES) {
      // Dropped, as a message format error is (RFC 7252 §4.2, §4.3); `next` is not called, so
      // node-coap neither answers nor remembers it.
      options.onDropped();
      return;
    }
    if (packet?.code === '0.00' && (packet.ack || packet.reset) && packet.messageId !== undefined) {
      options.onEmptyMessage({
        kind: packet.ack ? 'ack' : 'reset',
        messageId: packet.messageId,
        peer: options.session,
      });
    } else if (packet?.options && packet.code?.startsWith('0.')) {
      withhold(packet, packet.options, options.observablePaths);
    }
    next(null);
  };
  // After the parser (index 0), before node-coap's server logic.
  server._middlewares.splice(1, 0, middleware);
}

/** The Block1 option of a request: undefined when it had none, null when it was malformed. */
export function takenBlock1(request: coap.IncomingMessage): BlockOption | null | undefined {
  return taken.get(request._packet)?.block1;
}

/** The Block2 option of a request: undefined when it had none, null when it was malformed. */
export function takenBlock2(request: coap.IncomingMessage): BlockOption | null | undefined {
  return taken.get(request._packet)?.block2;
}

/** The request's Request-Tag as hex ("" when it has none). */
export function takenRequestTag(request: coap.IncomingMessage): string {
  return taken.get(request._packet)?.requestTag ?? '';
}

function withhold(
  packet: ParsedPacket,
  options: readonly ParsedOption[],
  observablePaths: ReadonlySet<string>,
): void {
  const kept: ParsedOption[] = [];
  const withheld: Taken = { requestTag: '' };
  const segments: string[] = [];
  let observe: ParsedOption | undefined;
  for (const option of options) {
    const name = String(option.name);
    if (name === 'Block1') withheld.block1 = parseBlockOption(option.value) ?? null;
    else if (name === 'Block2') withheld.block2 = parseBlockOption(option.value) ?? null;
    else if (name === 'Observe') observe = option;
    else {
      if (name === OPTION_REQUEST_TAG) withheld.requestTag = option.value.toString('hex');
      if (name === 'Uri-Path') segments.push(option.value.toString('utf8'));
      kept.push(option);
    }
  }
  if (observe && observablePaths.has(`/${segments.join('/')}`)) kept.push(observe);
  packet.options = kept;
  taken.set(packet, withheld);
}
