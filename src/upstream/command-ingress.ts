import { randomUUID } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import type { Config } from '../config/index.js';
import type { CommandMessage } from '../downstream/index.js';
import type { UpstreamEmit } from './broker-connection.js';
import type { CommandInbox } from './command-inbox.js';
import type { CommandRefusal } from './command-refusals.js';
import { contentFormatOf } from './content-format.js';
import type { UpstreamLog } from './upstream-client-options.js';
import { UpstreamError } from './upstream-error.js';

export interface CommandIngressStats {
  /** Refused at ingress since start: larger than upstream.commands.max_bytes. */
  refusedTooLarge: number;
  /** Whose expiry was cut to upstream.commands.max_expiry_s since start. */
  expiryCapped: number;
  /** Refusals (here and given up by the inbox) that could not be stored for reporting upstream. */
  refusalsUnreported: number;
}

export interface CommandIngressOptions {
  commandsTopic: string;
  settings: Config['upstream']['commands'];
  /** A command's lifetime when its publisher set no message expiry interval. */
  commandTtlMs: number;
  inbox: CommandInbox;
  /** Stores the refusal's report for upstream; resolves false when it could not be (outbox full). */
  report(refusal: CommandRefusal): Promise<boolean>;
  log: UpstreamLog;
  clock: () => number;
  emit: UpstreamEmit;
}

/**
 * Commands as they come from the broker on commands_topic: each is stored in the inbox with its
 * expiry before it is acknowledged, then handed to the sensor's subscriber by the inbox.
 *
 * Admission rules:
 * - expiry: the MQTT 5 message expiry interval, else downstream.coap.command_ttl_s, never more than
 *   upstream.commands.max_expiry_s (a publisher cannot park a command for ever);
 * - size: a payload over upstream.commands.max_bytes is not stored (it could never be delivered and
 *   would hold the sensor's queue): it is acknowledged with 0x83 and its refusal reported upstream
 *   (command-refusals.ts), as are commands the inbox gives up on.
 */
export class CommandIngress {
  readonly #options: CommandIngressOptions;
  readonly #filter: string[];
  readonly #sensorLevel: number;
  #refusedTooLarge = 0;
  #expiryCapped = 0;
  #refusalsUnreported = 0;

  constructor(options: CommandIngressOptions) {
    this.#options = options;
    this.#filter = options.commandsTopic.split('/');
    this.#sensorLevel = this.#filter.indexOf('+');
  }

  stats(): CommandIngressStats {
    return {
      refusedTooLarge: this.#refusedTooLarge,
      expiryCapped: this.#expiryCapped,
      refusalsUnreported: this.#refusalsUnreported,
    };
  }

  /** Reports a refusal upstream (stored in the outbox); counted when it cannot be. */
  async report(refusal: CommandRefusal): Promise<void> {
    const options = this.#options;
    options.log.warn(
      { sensorId: refusal.sensorId, commandId: refusal.commandId, reason: refusal.reason },
      `upstream: command refused: ${refusal.detail}`,
    );
    options.emit('commandRefused', refusal);
    let stored = false;
    try {
      stored = await options.report(refusal);
    } catch {
      // Counted below: the command is refused either way.
    }
    if (!stored) this.#refusalsUnreported++;
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
    const commandId = commandIdOf(properties);
    const maxBytes = options.settings.max_bytes;
    if (payload.byteLength > maxBytes) {
      this.#refusedTooLarge++;
      const refusal: CommandRefusal = {
        commandId,
        sensorId,
        reason: 'too-large',
        detail: `command ${commandId} for sensor ${sensorId} has ${payload.byteLength} bytes, more than upstream.commands.max_bytes (${maxBytes}); it was not stored`,
        responseTopic: properties.responseTopic,
        correlationData: properties.correlationData,
      };
      // Acknowledged once the report is stored (or could not be): the broker does not send it again.
      void this.report(refusal).then(() => done(0x83)); // implementation specific error
      return;
    }
    const now = options.clock();
    let lifetimeMs =
      properties.messageExpiryInterval !== undefined
        ? properties.messageExpiryInterval * 1000
        : options.commandTtlMs;
    if (lifetimeMs > options.settings.max_expiry_s * 1000) {
      lifetimeMs = options.settings.max_expiry_s * 1000;
      this.#expiryCapped++;
    }
    const command: CommandMessage = {
      id: commandId,
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
