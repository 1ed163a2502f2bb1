import { readFileSync } from 'node:fs';
import { connectAsync, type MqttClient } from 'mqtt';
import type { MosquittoBroker } from '../../../hw-sim/broker/index.js';

/** What a reference publisher process is given (JSON in argv[2]): the broker and its client credentials. */
export interface ReferenceBroker {
  brokerUrl: string;
  caPem: string;
  certFile: string;
  keyFile: string;
}

/**
 * The benches' reference: a plain mqtt.js MQTT 5 client over node's TLS with a client certificate, as
 * the gateway connects upstream, so the gateway's figures can be read against it.
 */
export function connectReferenceClient(broker: ReferenceBroker, clientId: string): Promise<MqttClient> {
  return connectAsync(broker.brokerUrl, {
    protocolVersion: 5,
    clientId,
    clean: true,
    ca: broker.caPem,
    cert: readFileSync(broker.certFile, 'utf8'),
    key: readFileSync(broker.keyFile, 'utf8'),
    servername: 'localhost',
    reconnectPeriod: 0,
  });
}

/** The bench broker's address and its backend client credentials, for a reference process. */
export function referenceBroker(broker: MosquittoBroker): ReferenceBroker {
  const backend = broker.backend;
  if (!backend) throw new Error('the bench broker has no backend certificate');
  return { brokerUrl: broker.url, caPem: broker.caPem, certFile: backend.certFile, keyFile: backend.keyFile };
}
