import type coap from 'coap';

type CoapServer = ReturnType<typeof coap.createServer>;

/** What a 5.00 the gateway makes itself says to the sensor: the error's own text stays in its log. */
const INTERNAL_ERROR_TEXT = Buffer.from('the gateway could not process the request');
/** The messaging layer's own 4.xx texts are short and fixed; anything longer is cut to this. */
const MAX_ERROR_PAYLOAD = 64;

/** The payload of an error answer made outside the routes: generic for 5.00, cut short otherwise. */
export function errorAnswerPayload(code: string, text: string | Buffer): Buffer {
  const payload = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return code === '5.00'
    ? INTERNAL_ERROR_TEXT
    : payload.subarray(0, Math.min(payload.length, MAX_ERROR_PAYLOAD));
}

/**
 * node-coap answers a request whose handling threw with 5.00 and the error's message as payload
 * (`_sendError`, from the end of its middleware chain). Two problems with that on a gateway: the
 * message is internal (names, values a sensor sent, stack-adjacent detail), and when it is longer than
 * one CoAP message, coap-packet's generate() throws out of the socket's 'message' handler — an
 * uncaught exception that ended the daemon (found by `npm run fuzz`). Here the answer is bounded and
 * generic, building it can no longer throw, and `onError` hears what went wrong.
 */
export function guardErrorAnswers(server: CoapServer, onError: (code: string, text: string) => void): void {
  const send = server._sendError.bind(server);
  server._sendError = (payload, rsinfo, packet, code = '5.00') => {
    const text = payload.toString('utf8');
    const answer = errorAnswerPayload(code, payload);
    let failure = '';
    try {
      send(answer, rsinfo, packet, code);
    } catch (error) {
      // Nothing from here may reach the socket's event handler: the sensor retransmits or gives up.
      failure = ` (answering it failed too: ${(error as Error).message})`;
    }
    try {
      onError(code, `${text}${failure}`);
    } catch {
      // A failing report must not undo the guard.
    }
  };
}
