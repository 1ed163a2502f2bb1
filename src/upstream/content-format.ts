/**
 * CoAP Content-Format numbers (RFC 7252 §12.3) and the MQTT 5 content types they travel as.
 * Commands coming down without a known content type are opaque bytes (42), or text (0) when the
 * publisher marked the payload UTF-8.
 */
const CONTENT_TYPES: ReadonlyMap<number, string> = new Map([
  [0, 'text/plain; charset=utf-8'],
  [42, 'application/octet-stream'],
  [50, 'application/json'],
  [60, 'application/cbor'],
]);

export function contentTypeOf(contentFormat: number): string {
  return CONTENT_TYPES.get(contentFormat) ?? 'application/octet-stream';
}

export function contentFormatOf(contentType: string | undefined, utf8Payload: boolean | undefined): number {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  for (const [format, known] of CONTENT_TYPES) if (known.split(';')[0] === type) return format;
  return utf8Payload ? 0 : 42;
}
