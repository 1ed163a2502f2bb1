import { readFileSync } from 'node:fs';
import { connectAsync, type MqttClient } from 'mqtt';
import type { MosquittoBroker } from '../../hw-sim/broker/index.js';
import type { MqttInput } from './mqtt-mutator.js';

/**
 * The backend side of the MQTT family: an mqtt.js client with the broker's backend certificate that
 * publishes the mutated commands. Publishing errors (a topic mqtt.js refuses, a property the broker
 * rejects) end that input only; a broker that drops the connection is reconnected by mqtt.js.
 */
export class CommandPublisher {
  readonly #client: MqttClient;
  #refused = 0;

  private constructor(client: MqttClient) {
    this.#client = client;
  }

  static async connect(broker: MosquittoBroker): Promise<CommandPublisher> {
    const backend = broker.backend;
    if (!backend) throw new Error('CommandPublisher: the broker has no backend certificate');
    const client = await connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: 'fuzz-backend',
      clean: true,
      ca: broker.caPem,
      cert: readFileSync(backend.certFile, 'utf8'),
      key: readFileSync(backend.keyFile, 'utf8'),
      servername: 'localhost',
      reconnectPeriod: 250,
      connectTimeout: 10_000,
    });
    client.on('error', () => {});
    return new CommandPublisher(client);
  }

  /** Publishes refused by mqtt.js or the broker. */
  get refused(): number {
    return this.#refused;
  }

  /** Resolves when the broker has taken it (PUBACK/PUBCOMP for QoS 1/2), or refused it. */
  publish(input: MqttInput): Promise<void> {
    return new Promise((resolve) => {
      // A ceiling: an offline client holds QoS 1/2 callbacks until it is back.
      const timer = setTimeout(resolve, 5000);
      try {
        this.#client.publish(input.topic, input.payload, input.options, (error) => {
          clearTimeout(timer);
          if (error) this.#refused++;
          resolve();
        });
      } catch {
        clearTimeout(timer);
        this.#refused++;
        resolve();
      }
    });
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true).catch(() => undefined);
  }
}
