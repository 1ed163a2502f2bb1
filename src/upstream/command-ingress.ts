import { randomUUID } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import type { CommandMessage } from '../downstream/index.js';
import type { UpstreamEmit } from './broker-connection.js';
import type { CommandInbox } from './command-inbox.js';
import { contentFormatOf } from './content-format.js';
import type { UpstreamLog } from './upstream-client-options.js';
import { UpstreamError } from './upstream-error.js';

export interface CommandIngressOptions {
  commandsTopic: string;
  /** A command's lifetime when its publisher set no message expiry interval. */
  commandTtlMs: number;
  inbox: CommandInbox;
  log: UpstreamLog;
  clock: () => number;
  emit: UpstreamEmit;
}

/**
 * Commands as they come from the broker on commands_topic: each is stored in the inbox with its
 * expiry (MQTT 5 message expiry interval, else command_ttl_s) before it is acknowledged, then handed
 * to the sensor's subscriber by the inbox.
 */
export class CommandIngress {
  readonly #options: CommandIngressOptions;
  readonly #filter: string[];
  readonly #sensorLevel: number;

  constructor(options: CommandIngressOptions) {
    this.#options = options;
    this.#filter = options.commandsTopic.split('/');
    this.#sensorLevel = this.#filter.indexOf('+');
  }

  /** One PUBLISH on commands_topic; `done` sends its PUBACK (QoS 1) with the code given. */
  take(
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
    done: (error: Error | number, code?: number) => void,
  ): void {
    const options = this.#options;
    const sensorId = this.#sensorOfTopic(topic);
    if (!sensorId) {
      options.log.warn({ topic }, 'upstream: command on a topic outside commands_topic, ignored');
      done(0x90); // Topic Name invalid
      return;
    }
    const properties = packet.properties ?? {};
    const now = options.clock();
    const lifetimeMs =
      properties.messageExpiryInterval !== undefined
        ? properties.messageExpiryInterval * 1000
        : options.commandTtlMs;
    const command: CommandMessage = {
      id: commandIdOf(properties),
      sensorId,
      contentFormat: contentFormatOf(properties.contentType, properties.payloadFormatIndicator),
      payload,
      receivedAt: new Date(now),
      expiresAt: new Date(now + lifetimeMs),
    };
    let added: boolean;
    try {
      added = options.inbox.add(command);
    } catch (cause) {
      // No PUBACK: the broker sends it again on the next connection.
      done(
        new UpstreamError(
          'EGW_UPSTREAM_PROTOCOL',
          `cannot store command ${command.id} for sensor ${sensorId}: ${(cause as Error).message}`,
          { hint: 'check the state database (free space, file system)', cause },
        ),
      );
      return;
    }
    done(0);
    if (added) {
      options.log.debug({ sensorId, commandId: command.id }, 'upstream: command stored');
      options.emit('command', command);
    }
  }

  #sensorOfTopic(topic: string): string | undefined {
    const filter = this.#filter;
    const levels = topic.split('/');
    if (levels.length !== filter.length) return undefined;
    if (!filter.every((level, index) => level === '+' || level === levels[index])) return undefined;
    return levels[this.#sensorLevel] || undefined;
  }
}

/** A command's id: its command-id user property, else its correlation data, else a new one. */
function commandIdOf(properties: NonNullable<IPublishPacket['properties']>): string {
  const fromProperty = properties.userProperties?.['command-id'];
  const id = Array.isArray(fromProperty) ? fromProperty[0] : fromProperty;
  if (id) return id;
  if (properties.correlationData && properties.correlationData.length > 0)
    return `cd-${Buffer.from(properties.correlationData).toString('hex')}`;
  return randomUUID();
}
