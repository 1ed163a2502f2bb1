import type { IClientPublishOptions } from 'mqtt';
import { encodeCbor } from '../../hw-sim/sensors/index.js';
import type { Prng } from './prng.js';

/**
 * Input family 3: MQTT 5 command messages from the broker side, as a backend publishes them to the
 * gateway's commands_topic (upstream.commands_topic, default "devices/+/commands"): sensor ids in
 * the topic that exist, do not, or stretch the filter; payloads of every size and shape (larger than
 * a datagram too); the properties the gateway reads (message expiry, content type, payload format
 * indicator, the command-id user property, correlation data) with edge values; QoS 0, 1 and 2.
 */

export interface MqttInput {
  topic: string;
  payload: Buffer;
  options: IClientPublishOptions;
  what: string;
}

export class MqttMutator {
  readonly #sensors: string[];
  readonly #commandIds: string[] = [];

  /** `sensors`: names of sensors with a session (the fuzz sensor observes /commands). */
  constructor(sensors: string[]) {
    this.#sensors = sensors;
  }

  next(prng: Prng): MqttInput {
    const sensor = prng.weighted<string>([
      [prng.pick(this.#sensors), 6],
      [`ghost-${prng.below(1000)}`, 2],
      ['', 0.5],
      ['x'.repeat(prng.pick([256, 4096])), 0.3],
      [printable(prng.bytes(8).toString('latin1')).replace(/[+#]/g, '_'), 0.5],
      ['\u00e9\u{1f600}', 0.2],
      ['sensor/extra', 0.3],
    ]);
    const topic = prng.weighted<string>([
      [`devices/${sensor}/commands`, 10],
      [`devices/${sensor}/commands/more`, 0.5],
      [`devices/${sensor}`, 0.3],
      ['devices//commands', 0.3],
    ]);
    const payload = this.#payload(prng);
    const properties: NonNullable<IClientPublishOptions['properties']> = {};
    if (prng.chance(0.5))
      properties.messageExpiryInterval = prng.pick([0, 1, 5, 60, 0xffffffff, prng.edgy(32)]);
    if (prng.chance(0.5))
      properties.contentType = prng.pick([
        'application/json',
        'application/cbor',
        'text/plain',
        '',
        'x'.repeat(1000),
        'application/octet-stream;q=1',
      ]);
    if (prng.chance(0.3)) properties.payloadFormatIndicator = prng.chance(0.5);
    if (prng.chance(0.3)) properties.correlationData = prng.bytes(prng.pick([0, 1, 16, 300]));
    if (prng.chance(0.2)) properties.responseTopic = `devices/${sensor}/replies`;
    if (prng.chance(0.6)) {
      const id = this.#commandId(prng);
      properties.userProperties = prng.chance(0.8)
        ? { 'command-id': id }
        : { 'command-id': [id, this.#commandId(prng)], other: prng.bytes(4).toString('hex') };
    }
    const qos = prng.weighted<0 | 1 | 2>([
      [1, 6],
      [0, 3],
      [2, 1],
    ]);
    return {
      topic,
      payload,
      options: { qos, retain: prng.chance(0.01), properties },
      what: `${topic.slice(0, 40)} q${qos} ${payload.length}B ${Object.keys(properties).join('+')}`,
    };
  }

  /** New ids mostly; an id used before now and then (the inbox must take it as a duplicate). */
  #commandId(prng: Prng): string {
    if (this.#commandIds.length > 0 && prng.chance(0.2)) return prng.pick(this.#commandIds);
    const id = prng.weighted<string>([
      [`cmd-${prng.u32().toString(16)}`, 8],
      ['', 0.5],
      ['y'.repeat(prng.pick([256, 5000])), 0.3],
      [printable(prng.bytes(6).toString('latin1')), 0.5],
    ]);
    if (this.#commandIds.length < 256) this.#commandIds.push(id);
    else this.#commandIds[prng.below(256)] = id;
    return id;
  }

  #payload(prng: Prng): Buffer {
    const kind = prng.weighted<string>([
      ['json', 4],
      ['cbor', 2],
      ['random', 2],
      ['empty', 0.5],
      ['large', 0.5],
    ]);
    switch (kind) {
      case 'json':
        return Buffer.from(
          JSON.stringify(
            prng.pick<unknown>([
              { action: 'reboot' },
              { setpoint: prng.u32() },
              [],
              null,
              { nested: { deep: 'x'.repeat(prng.below(500)) } },
            ]),
          ),
        );
      case 'cbor':
        return Buffer.from(encodeCbor({ action: 'set', value: prng.below(1000) }));
      case 'empty':
        return Buffer.alloc(0);
      case 'large':
        // Around and over what one datagram (MTU 1200, or a CoAP block) can carry.
        return prng.bytes(prng.pick([1024, 1100, 1152, 1200, 2048, 16_384, 65_536]));
      default:
        return prng.bytes(prng.below(300));
    }
  }
}

/**
 * MQTT strings exclude U+0000 and mosquitto refuses the control characters (U+0001–U+001F,
 * U+007F–U+009F) by dropping the publisher's connection: such a string would test mosquitto, not
 * the gateway. (Wildcards in a PUBLISH topic are a protocol error too: the sensor ids lose "+" and "#".)
 */
function printable(text: string): string {
  return Array.from(text, (char) => {
    const code = char.codePointAt(0) as number;
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f) ? '_' : char;
  }).join('');
}
