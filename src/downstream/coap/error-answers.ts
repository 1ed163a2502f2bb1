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
