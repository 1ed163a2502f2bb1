/** The CoAP Content-Format numbers the gateway speaks (RFC 7252 §12.3; IANA "CoAP Content-Formats"). */
export const CONTENT_FORMAT = {
  textPlain: 0,
  linkFormat: 40,
  octetStream: 42,
  json: 50,
  cbor: 60,
} as const;

/** node-coap reports the media types it knows by name (and the rest by number): back to numbers. */
const BY_NAME: Readonly<Record<string, number>> = {
  'text/plain': CONTENT_FORMAT.textPlain,
  'application/link-format': CONTENT_FORMAT.linkFormat,
  'application/octet-stream': CONTENT_FORMAT.octetStream,
  'application/json': CONTENT_FORMAT.json,
  'application/cbor': CONTENT_FORMAT.cbor,
};

/**
 * The number of a Content-Format or Accept option as node-coap parsed it, or undefined when the
 * option is absent or names a format the gateway does not speak.
 */
export function contentFormatNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return BY_NAME[value];
  return undefined;
}
