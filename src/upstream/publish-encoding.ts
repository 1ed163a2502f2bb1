/**
 * MQTT 5 PUBLISH packets (QoS 1) built here in one buffer instead of by mqtt-packet, which writes a
 * packet as ~30 small stream writes (one per field, four per user property). What a sensor's messages
 * share — topic and properties — is encoded once (PublishTemplate) and copied per message with its
 * packet identifier and payload. The bytes are those mqtt-packet writes for the same topic, QoS,
 * properties (in the same order) and payload.
 */

/** MQTT 5 property identifiers (MQTT 5.0 §2.2.2.2). */
const CONTENT_TYPE = 0x03;
const CORRELATION_DATA = 0x09;
const USER_PROPERTY = 0x26;
/** PUBLISH, DUP 0, QoS 1, RETAIN 0. */
const PUBLISH_QOS1 = 0x32;
/** The largest Remaining Length MQTT can express (four variable-byte-integer bytes). */
const MAX_REMAINING_LENGTH = 268_435_455;

/** The PUBLISH properties the gateway sends, in the order they are encoded. */
export interface PublishProperties {
  contentType?: string;
  userProperties?: Readonly<Record<string, string>>;
  correlationData?: Buffer;
}

/** A message's topic and properties, encoded: the part of its PUBLISH that its sensor's messages share. */
export interface PublishTemplate {
  /** Topic Name (length-prefixed UTF-8). */
  readonly topic: Buffer;
  /** Properties: their length (variable byte integer), then each property. */
  readonly properties: Buffer;
}

export function publishTemplate(topic: string, properties: PublishProperties): PublishTemplate {
  const parts: Buffer[] = [];
  if (properties.contentType !== undefined)
    parts.push(Buffer.of(CONTENT_TYPE), lengthPrefixed(Buffer.from(properties.contentType)));
  for (const [name, value] of Object.entries(properties.userProperties ?? {}))
    parts.push(
      Buffer.of(USER_PROPERTY),
      lengthPrefixed(Buffer.from(name)),
      lengthPrefixed(Buffer.from(value)),
    );
  if (properties.correlationData !== undefined)
    parts.push(Buffer.of(CORRELATION_DATA), lengthPrefixed(properties.correlationData));
  const body = Buffer.concat(parts);
  return {
    topic: lengthPrefixed(Buffer.from(topic)),
    properties: Buffer.concat([variableByteInteger(body.length), body]),
  };
}

/** The PUBLISH packet of `payload` under `template` with packet identifier `packetId` (1–65535). */
export function encodePublish(template: PublishTemplate, packetId: number, payload: Uint8Array): Buffer {
  const remaining = template.topic.length + 2 + template.properties.length + payload.length;
  if (remaining > MAX_REMAINING_LENGTH)
    throw new RangeError(`a PUBLISH of ${remaining} bytes is too large for MQTT`);
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4;
  const packet = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  packet[0] = PUBLISH_QOS1;
  let offset = 1;
  for (let rest = remaining; ; ) {
    const byte = rest % 0x80;
    rest = Math.floor(rest / 0x80);
    packet[offset++] = rest > 0 ? byte | 0x80 : byte;
    if (rest === 0) break;
  }
  offset += template.topic.copy(packet, offset);
  packet.writeUInt16BE(packetId, offset);
  offset += 2;
  offset += template.properties.copy(packet, offset);
  packet.set(payload, offset);
  return packet;
}

function lengthPrefixed(bytes: Buffer): Buffer {
  if (bytes.length > 0xffff)
    throw new RangeError(`an MQTT string or binary of ${bytes.length} bytes is too long`);
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function variableByteInteger(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  do {
    const byte = rest % 0x80;
    rest = Math.floor(rest / 0x80);
    bytes.push(rest > 0 ? byte | 0x80 : byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}
