import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import {
  encodePublish,
  type PublishProperties,
  publishTemplate,
} from '../../../src/upstream/publish-encoding.js';

/** What mqtt.js would have written for the same PUBLISH (mqtt-packet, MQTT 5). */
function byMqttPacket(
  topic: string,
  messageId: number,
  payload: Buffer,
  properties: PublishProperties,
): Buffer {
  return mqttPacket.generate(
    { cmd: 'publish', topic, payload, qos: 1, dup: false, retain: false, messageId, properties },
    { protocolVersion: 5 },
  );
}

function parsed(bytes: Buffer): mqttPacket.IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const packets: mqttPacket.Packet[] = [];
  parser.on('packet', (packet) => packets.push(packet));
  parser.on('error', (error) => {
    throw error;
  });
  parser.parse(bytes);
  expect(packets).toHaveLength(1);
  return packets[0] as mqttPacket.IPublishPacket;
}

const TELEMETRY: PublishProperties = {
  contentType: 'application/json',
  userProperties: {
    'sensor-id': 'sensor-0001',
    'certificate-sha256': 'ab'.repeat(32),
    'device-type': 'thermo-hygrometer',
    'gateway-id': 'gw-Ä-0A02', // not ASCII: lengths are in bytes
  },
};

describe('pre-encoded MQTT 5 PUBLISH (QoS 1)', () => {
  // Payload sizes around the Remaining Length's 1/2/3-byte boundaries.
  for (const size of [0, 1, 60, 127, 200, 16_383, 16_384, 70_000, 2_097_152])
    it(`is the bytes mqtt-packet writes (payload ${size} bytes)`, () => {
      const payload = Buffer.alloc(size, 0x61);
      const template = publishTemplate('telemetry/sensor-0001', TELEMETRY);
      expect(
        encodePublish(template, 4711, payload).equals(
          byMqttPacket('telemetry/sensor-0001', 4711, payload, TELEMETRY),
        ),
      ).toBe(true);
    });

  it('carries correlation data and a content type alone as mqtt-packet does, and parses back', () => {
    const properties: PublishProperties = {
      contentType: 'application/cbor',
      userProperties: { 'command-id': 'c-1' },
      correlationData: Buffer.from('c0ffee', 'hex'),
    };
    const payload = Buffer.from([0xa1, 0x61, 0x78, 0x01]);
    const bytes = encodePublish(publishTemplate('commands/refused', properties), 65_535, payload);
    expect(bytes.equals(byMqttPacket('commands/refused', 65_535, payload, properties))).toBe(true);
    const packet = parsed(bytes);
    expect(packet).toMatchObject({
      topic: 'commands/refused',
      qos: 1,
      messageId: 65_535,
      dup: false,
      retain: false,
    });
    expect(packet.payload).toEqual(payload);
    expect(packet.properties?.correlationData?.toString('hex')).toBe('c0ffee');
    expect(packet.properties?.userProperties).toEqual({ 'command-id': 'c-1' });
    const bare = encodePublish(publishTemplate('t', {}), 1, Buffer.from('x'));
    expect(bare.equals(byMqttPacket('t', 1, Buffer.from('x'), {}))).toBe(true);
  });

  it('one template serves every message of a sensor: only the packet id and payload differ', () => {
    const template = publishTemplate('telemetry/sensor-0001', TELEMETRY);
    const first = parsed(encodePublish(template, 1, Buffer.from('{"n":1}')));
    const second = parsed(encodePublish(template, 2, Buffer.from('{"n":22}')));
    expect([first.messageId, second.messageId]).toEqual([1, 2]);
    expect([first.payload.toString(), second.payload.toString()]).toEqual(['{"n":1}', '{"n":22}']);
    expect(second.properties).toEqual(first.properties);
    expect(first.properties?.userProperties).toEqual(TELEMETRY.userProperties);
  });
});
