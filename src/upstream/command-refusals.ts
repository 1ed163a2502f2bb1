import type { Config } from '../config/index.js';
import type { OutboxMessage } from './outbox/index.js';
import { CORRELATION_DATA_PROPERTY } from './outbox-publisher.js';

/** Why a command does not reach its sensor. */
export type CommandRefusalReason = 'too-large' | 'undeliverable';

/** A command the gateway will not (or could not) deliver, to be reported upstream. */
export interface CommandRefusal {
  commandId: string;
  sensorId: string;
  reason: CommandRefusalReason;
  /** For people: what happened and what to do. */
  detail: string;
  /** The command's MQTT 5 response topic and correlation data, when it carried them. */
  responseTopic?: string;
  correlationData?: Buffer;
}

/**
 * The report of a refused command, as an outbox message (so it is durable, and sent in order with
 * the sensor's telemetry): to the command's MQTT 5 response topic with its correlation data when it
 * named one (the request/response pattern), else to upstream.commands.refusals_topic; undefined
 * when there is neither. JSON body {commandId, sensorId, refused, detail}; user properties
 * command-id, sensor-id and refused.
 */
export function refusalMessage(
  refusal: CommandRefusal,
  settings: Config['upstream']['commands'],
): OutboxMessage | undefined {
  const topic = refusal.responseTopic || settings.refusals_topic.replaceAll('{sensorId}', refusal.sensorId);
  if (!topic) return undefined;
  const properties: Record<string, string> = {
    'command-id': refusal.commandId,
    'sensor-id': refusal.sensorId,
    refused: refusal.reason,
  };
  if (refusal.responseTopic && refusal.correlationData)
    properties[CORRELATION_DATA_PROPERTY] = refusal.correlationData.toString('hex');
  return {
    sensorId: refusal.sensorId,
    topic,
    payload: Buffer.from(
      JSON.stringify({
        commandId: refusal.commandId,
        sensorId: refusal.sensorId,
        refused: refusal.reason,
        detail: refusal.detail,
      }),
    ),
    contentFormat: 50,
    properties,
  };
}
