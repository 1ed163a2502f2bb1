import type { CoapAnswer } from './coap-answer.js';
import type { ResponseOptions } from './option-values.js';

export type { ResponseOptions } from './option-values.js';

/** The answer handle a route gets (CoapAnswer). */
export type CoapResponse = CoapAnswer;

/** Sends `code` with an optional payload and options. */
export function respond(
  response: CoapResponse,
  code: string,
  payload?: Buffer | string,
  options: ResponseOptions = {},
): void {
  response.send(code, payload, options);
}
