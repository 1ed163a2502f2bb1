/** A real mosquitto broker (TLS, client certificates required) for integration tests, benchmarks and the demo. */
export { type BrokerCertificates, brokerCertificates } from './broker-certificates.js';
export { MosquittoBroker } from './mosquitto-broker.js';
export type { MosquittoBrokerOptions } from './mosquitto-broker-options.js';
export {
  type SensorStream,
  TelemetrySubscriber,
  type TelemetrySubscriberEvents,
  type TelemetrySubscriberOptions,
} from './telemetry-subscriber.js';
