import coap from 'coap';
import { type BlockOption, blockOptionValue } from './block-option.js';

/** node-coap's response: a plain one, or the observe stream it gives a GET with Observe: 0. */
export type CoapResponse = coap.OutgoingMessage | coap.ObserveWriteStream;

export interface ResponseOptions {
  contentFormat?: number;
  maxAge?: number;
  size1?: number;
  block1?: BlockOption;
  block2?: BlockOption;
  size2?: number;
  etag?: Buffer;
}

/** Sends `code` with an optional payload and options, on either kind of node-coap response. */
export function respond(
  response: CoapResponse,
  code: string,
  payload?: Buffer | string,
  options: ResponseOptions = {},
): void {
  // Both kinds take the code from statusCode (OutgoingMessage prefers `code`, left empty).
  response.statusCode = code;
  if (options.contentFormat !== undefined) response.setOption('Content-Format', options.contentFormat);
  if (options.maxAge !== undefined) response.setOption('Max-Age', options.maxAge);
  if (options.size1 !== undefined) response.setOption('Size1', options.size1);
  if (options.block1 !== undefined) response.setOption('Block1', blockOptionValue(options.block1));
  if (options.block2 !== undefined) response.setOption('Block2', blockOptionValue(options.block2));
  if (options.size2 !== undefined) response.setOption('Size2', options.size2);
  if (options.etag !== undefined) response.setOption('ETag', options.etag);
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  if (response instanceof coap.ObserveWriteStream && !code.startsWith('2.')) {
    // A refused registration carries no Observe (RFC 7641 §4.2), but the observe stream puts one in
    // every write: send the one message directly, then end the stream as one that has sent.
    response._doSend(body);
    response._counter = 1;
    response.end();
    return;
  }
  if (options.block2 !== undefined && response instanceof coap.OutgoingMessage) {
    // One block already cut: node-coap's response would cut a 1,024-byte body again, with its own ETag.
    coap.OutgoingMessage.prototype.end.call(response, body);
    return;
  }
  response.end(body);
}
