/**
 * Why a sensor's CoAP request produced no response: 'noResponse' (nothing within the response
 * timeout: the session is taken for dead), 'cancelled' (the sensor stopped or was refused while it
 * waited) or 'failed' (node-coap reported an error for the request).
 */
export class CoapRequestError extends Error {
  readonly kind: 'noResponse' | 'cancelled' | 'failed';

  constructor(kind: CoapRequestError['kind'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CoapRequestError';
    this.kind = kind;
  }
}
