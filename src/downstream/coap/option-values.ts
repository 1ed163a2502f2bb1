import { type BlockOption, blockOptionValue } from './block-option.js';

/** An option as coap-packet's generate() takes it. */
export interface PacketOption {
  name: string;
  value: Buffer;
}

/** What an answer may carry besides its code and payload. */
export interface ResponseOptions {
  contentFormat?: number;
  maxAge?: number;
  size1?: number;
  block1?: BlockOption;
  block2?: BlockOption;
  size2?: number;
  etag?: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * The options of an answer, encoded as node-coap encoded them (the sensors saw these bytes before):
 * Content-Format as one byte, or two above 255 (so 0 is one zero byte), Max-Age, Size1 and Size2
 * as the shortest uint (0 is empty).
 */
export function answerOptions(options: ResponseOptions): PacketOption[] {
  const encoded: PacketOption[] = [];
  if (options.contentFormat !== undefined) {
    encoded.push({ name: 'Content-Format', value: mediaTypeValue(options.contentFormat) });
  }
  if (options.maxAge !== undefined) encoded.push({ name: 'Max-Age', value: uintValue(options.maxAge) });
  if (options.size1 !== undefined) encoded.push({ name: 'Size1', value: uintValue(options.size1) });
  if (options.block1 !== undefined) encoded.push({ name: 'Block1', value: blockOptionValue(options.block1) });
  if (options.block2 !== undefined) encoded.push({ name: 'Block2', value: blockOptionValue(options.block2) });
  if (options.size2 !== undefined) encoded.push({ name: 'Size2', value: uintValue(options.size2) });
  if (options.etag !== undefined) encoded.push({ name: 'ETag', value: options.etag });
  return encoded;
}

export function mediaTypeValue(format: number): Buffer {
  if (format > 255) {
    const value = Buffer.alloc(2);
    value.writeUInt16BE(format, 0);
    return value;
  }
  return Buffer.of(format);
}

export function uintValue(value: number): Buffer {
  if (value <= 0) return EMPTY;
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from(bytes);
}

/** An Observe sequence number, 1 to 3 bytes (node-coap's encoding). */
export function observeValue(sequence: number): Buffer {
  if (sequence <= 0xff) return Buffer.of(sequence);
  if (sequence <= 0xffff) return Buffer.of(sequence >> 8, sequence & 0xff);
  return Buffer.of(sequence >> 16, (sequence >> 8) & 0xff, sequence & 0xff);
}
